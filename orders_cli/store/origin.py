"""Keep the simulator's demo data and real exchange data apart in one Redis.

The simulator restarts its ids at every run, so its trades of a previous run would make
every new one look like a duplicate (and mixing them with real trades would be worse).
``orders run --simulate`` therefore claims the keyspace for the simulator and clears the
previous simulation's data; a real run clears demo data; neither touches data it did not
mark as the simulator's. The claim is made once the exchange has answered (a run that
cannot start changes nothing), and nothing is cleared while another ingester reports
health on this Redis (it would be writing into what we clear).
"""

from __future__ import annotations

import logging
from typing import cast

from orders_cli.errors import KeyspaceInUse, UsageError
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.schema import check_schema, claim_schema

log = logging.getLogger("orders.origin")

SIMULATOR = "simulator"
EXCHANGE = "exchange"


def wipe(redis: RedisClient, ks: Keyspace, chunk: int = 500) -> int:
    """Delete every key of the keyspace (market + namespace), in small chunks."""
    deleted = 0
    for pattern in ks.data_patterns():
        batch: list[bytes] = []
        for key in redis.scan_iter(match=pattern, count=chunk):
            batch.append(key)
            if len(batch) >= chunk:
                deleted += redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += redis.unlink(*batch)
    return deleted


def other_ingesters(redis: RedisClient, ks: Keyspace, me: str | None) -> list[str]:
    """Health keys of live ingesters of this namespace other than ``me``."""
    mine = ks.health(me).encode() if me is not None else None
    keys = redis.scan_iter(match=ks.health_pattern(), count=500)
    return sorted(k.decode(errors="replace") for k in keys if k != mine)


def _wipe_if_alone(redis: RedisClient, ks: Keyspace, me: str | None, what: str) -> int:
    others = other_ingesters(redis, ks, me)
    if others:
        raise KeyspaceInUse(
            f"{what} is in use by {len(others)} other running ingester(s) "
            f"({', '.join(others[:3])}): stop it first (`orders status` lists them; a "
            "crashed one's key expires within seconds), or use another --namespace or "
            "--redis-url"
        )
    return wipe(redis, ks)


def claim(redis: RedisClient, ks: Keyspace, origin: str, *, me: str | None = None) -> None:
    """Mark the keyspace as filled by ``origin``, clearing simulator data first.

    ``me``: this ingester's id (its own health key does not count as another ingester).
    Raises :class:`KeyspaceInUse` instead of clearing data another ingester writes to, and
    :class:`StoreLayoutUnknown` before touching a store of an unknown key layout."""
    check_schema(redis, ks)
    raw = cast(bytes | None, redis.get(ks.origin()))
    current = raw.decode() if raw is not None else None
    if origin == SIMULATOR:
        if current == SIMULATOR:
            n = _wipe_if_alone(redis, ks, me, "the previous simulation's data")
            log.info("cleared the previous simulation's data (%d keys)", n)
        elif redis.scard(ks.symbols()):  # real (or unmarked) data: never ours to clear
            raise UsageError(
                "this Redis already holds exchange data: run the demo on another "
                "--redis-url or with --namespace demo"
            )
    elif current == SIMULATOR:
        n = _wipe_if_alone(redis, ks, me, "the simulator's demo data")
        log.warning("removed the simulator's demo data from this Redis (%d keys)", n)
    redis.set(ks.origin(), origin)
    claim_schema(redis, ks)
