"""Keep the simulator's demo data and real exchange data apart in one Redis, and delete
nothing without consent.

A run's origin is what its exchange serves, not the flag it was started with: a
simulator names its instance in exchangeInfo (``Source.simulator_id``), the exchange
never does. The keyspace records who filled it (``Keyspace.origin()``: ``exchange`` or
``simulator:<instance>``). Then:

- the same origin resumes (a restart against the same ``orders sim`` too: its ids go on);
- another simulator instance's data must go (its ids restart: every new trade would look
  like a duplicate), and so must demo data under a real run: :func:`plan_claim` says what
  that deletes, and the caller deletes it only with consent (``--replace-store``, a yes
  on the terminal; ``run --simulate`` replaces an earlier simulation by design);
- exchange data (or unmarked data: a store from before the mark) is never deleted by a
  run: the demo refuses it.

The claim is made once the exchange has answered (a run that cannot start changes
nothing), and nothing is deleted while another ingester reports health in the namespace.
"""

from __future__ import annotations

import logging
from typing import cast

import attrs

from orders_cli.errors import StoreNotReplaced, UsageError
from orders_cli.hints import command
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.schema import check_schema, claim_schema
from orders_cli.store.wipe import KeyCounts, count_keys, ensure_alone, wipe

log = logging.getLogger("orders.origin")

SIMULATOR = "simulator"
EXCHANGE = "exchange"


def simulator(instance: str) -> str:
    """The origin of data served by the simulator instance ``instance``."""
    return f"{SIMULATOR}:{instance}"


def is_simulator(origin: str | None) -> bool:
    """``simulator`` alone: a mark written before simulators named their instance."""
    return origin is not None and (origin == SIMULATOR or origin.startswith(f"{SIMULATOR}:"))


@attrs.frozen(slots=True)
class ClaimPlan:
    """Claiming a keyspace for ``origin``: ``deletes`` is what must go first (None:
    nothing), ``what`` names it for the user."""

    origin: str
    deletes: KeyCounts | None = None
    what: str = ""

    def question(self, where: str) -> str:
        """The terminal's confirmation prompt."""
        assert self.deletes is not None
        return f"{where} holds {self.what}: delete its {self.deletes.describe()}?"

    def refusal(self, where: str) -> StoreNotReplaced:
        assert self.deletes is not None
        return StoreNotReplaced(
            f"{where} holds {self.what}, {self.deletes.describe()}, which this run would "
            "have to delete: nothing deleted; pass --replace-store to replace it, delete it "
            f"with `{command('reset')}`, or use another --namespace"
        )


def where(ks: Keyspace) -> str:
    """``namespace 'demo'`` or ``this Redis``: the place a message is about."""
    return f"namespace {ks.namespace.rstrip(':')!r}" if ks.namespace else "this Redis"


def plan_claim(
    redis: RedisClient, ks: Keyspace, origin: str, *, me: str | None = None
) -> ClaimPlan:
    """What claiming the keyspace for ``origin`` takes (module doc). Raises
    :class:`StoreLayoutUnknown` for a key layout this release does not know, a
    :class:`UsageError` when the demo meets exchange data, :class:`KeyspaceInUse` when
    something must be deleted while another ingester (not ``me``) writes here."""
    check_schema(redis, ks)
    raw = cast(bytes | None, redis.get(ks.origin()))
    current = raw.decode() if raw is not None else None
    if current == origin:
        return ClaimPlan(origin)
    if is_simulator(origin) and not is_simulator(current):
        if redis.scard(ks.symbols()):  # real (or unmarked) data: never ours to delete
            raise UsageError(
                f"{where(ks)} already holds exchange data: run the demo on another "
                "--redis-url or with --namespace demo"
            )
        return ClaimPlan(origin)
    if not is_simulator(current):  # exchange data under an exchange run
        return ClaimPlan(origin)
    what = (
        "another simulation's data (its trade ids start over)"
        if is_simulator(origin)
        else "the simulator's demo data"
    )
    if not redis.scard(ks.symbols()):
        return ClaimPlan(origin)  # a mark and nothing stored under it
    ensure_alone(redis, ks, me, what)
    return ClaimPlan(origin, count_keys(redis, ks), what)


def apply_claim(redis: RedisClient, ks: Keyspace, plan: ClaimPlan, *, me: str | None) -> None:
    """Delete what ``plan`` says (the caller has consent), then mark the keyspace."""
    if plan.deletes is not None:
        ensure_alone(redis, ks, me, plan.what)  # again: one may have started since
        n = wipe(redis, ks)
        log.warning("deleted %s from %s (%d keys)", plan.what, where(ks), n)
    redis.set(ks.origin(), plan.origin)
    claim_schema(redis, ks)


def claim(
    redis: RedisClient,
    ks: Keyspace,
    origin: str,
    *,
    me: str | None = None,
    replace: bool = False,
) -> ClaimPlan:
    """Plan and apply in one go; ``replace``: consent to delete what the plan names,
    else :class:`StoreNotReplaced` and nothing changes. ``me``: this ingester's id (its
    own health key does not count as another ingester)."""
    plan = plan_claim(redis, ks, origin, me=me)
    if plan.deletes is not None and not replace:
        raise plan.refusal(where(ks))
    apply_claim(redis, ks, plan, me=me)
    return plan
