"""Demo data and exchange data never mix, and nothing is deleted without consent.

The origin of a run is what its exchange serves (a simulator marks its exchangeInfo with
its instance id, the real exchange never does), not the flag it was started with. A run
from the same simulator instance resumes; data it would have to delete (another
simulation's, whose ids restart, or demo data under a real run) is deleted only with
consent (``replace``: ``--replace-store``, or a yes on the terminal); exchange data is
never deleted by a run."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.errors import (
    ExchangeUnavailable,
    KeyspaceInUse,
    StoreNotReplaced,
    UsageError,
    orders_error_in,
)
from orders_cli.ingest.ingester import Ingester, StoreClaim
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import EXCHANGE, claim, plan_claim, simulator

KS = Keyspace()
SIM_A, SIM_B = simulator("a"), simulator("b")


def _fill(r: Any, ks: Keyspace) -> None:
    r.zadd(ks.trades_latest("BTCUSDT"), {"x": 1})
    r.hset(ks.state("BTCUSDT"), "watermark", 5)
    r.sadd(ks.symbols(), "BTCUSDT")


def test_the_same_simulator_resumes_and_another_one_needs_consent(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIM_A)
    _fill(r, KS)
    claim(r, KS, SIM_A)  # a restart against the same `orders sim`: its ids go on
    assert r.exists(KS.state("BTCUSDT"))
    with pytest.raises(StoreNotReplaced, match="--replace-store"):
        claim(r, KS, SIM_B)  # another simulation restarts the ids: would have to delete
    assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == SIM_A.encode()
    r.set("unrelated", 1)
    r.zadd(Keyspace(namespace="prod:").trades_latest("BTCUSDT"), {"y": 1})
    claim(r, KS, SIM_B, replace=True)
    assert not r.exists(KS.trades_latest("BTCUSDT"), KS.state("BTCUSDT"), KS.symbols())
    assert r.exists("unrelated") and r.exists(Keyspace(namespace="prod:").trades_latest("BTCUSDT"))
    assert r.get(KS.origin()) == SIM_B.encode()


def test_a_real_run_deletes_demo_data_only_with_consent(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIM_A)
    _fill(r, KS)
    with pytest.raises(StoreNotReplaced) as refused:
        claim(r, KS, EXCHANGE)
    assert refused.value.exit_code == 2
    assert "simulator's demo data" in str(refused.value)
    assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == SIM_A.encode()
    claim(r, KS, EXCHANGE, replace=True)
    assert not r.exists(KS.state("BTCUSDT"))
    assert r.get(KS.origin()) == b"exchange"


def test_a_claim_plan_counts_what_it_would_delete_by_kind(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIM_A)
    _fill(r, KS)
    plan = plan_claim(r, KS, EXCHANGE)
    assert plan.deletes is not None
    assert plan.deletes.by_kind == {
        "trades": 1, "stats": 0, "symbol info": 0, "ingest state": 1, "orders meta": 3
    }  # fmt: skip
    assert "5 keys" in plan.deletes.describe()
    assert plan_claim(r, KS, SIM_A).deletes is None


def test_the_demo_refuses_exchange_data_and_never_deletes_it(redis_shared: Any) -> None:
    r = redis_shared.client()
    _fill(r, KS)  # unmarked data: someone's real store
    with pytest.raises(UsageError, match="exchange data"):
        claim(r, KS, SIM_A, replace=True)
    assert r.exists(KS.state("BTCUSDT"))
    claim(r, KS, EXCHANGE)
    assert r.exists(KS.state("BTCUSDT")), "a real run keeps unmarked data"
    with pytest.raises(UsageError, match="exchange data"):
        claim(r, KS, SIM_A, replace=True)
    r.flushall()
    claim(r, KS, EXCHANGE)  # a real run that never stored anything (offline, say)
    claim(r, KS, SIM_A)  # does not block the demo


def test_nothing_is_cleared_while_another_ingester_reports(redis_shared: Any) -> None:
    """Two demos on one keyspace, or a real run beside a live demo: the second would clear
    what the first is writing. It refuses instead; its own health key does not count."""
    r = redis_shared.client()
    claim(r, KS, SIM_A, me="a")
    _fill(r, KS)
    r.set(KS.health("a"), "{}", ex=10)
    claim(r, KS, SIM_B, me="a", replace=True)  # alone (its own key): starts clean
    assert not r.exists(KS.state("BTCUSDT"))
    _fill(r, KS)
    r.set(KS.health("a"), "{}", ex=10)  # the demo "a" is running
    for origin in (SIM_A, EXCHANGE):
        with pytest.raises(KeyspaceInUse, match="1 other running ingester"):
            claim(r, KS, origin, me="b", replace=True)
        assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == SIM_B.encode()
    assert KeyspaceInUse.exit_code == 2
    r.delete(KS.health("a"))  # it stopped (or its key expired after a crash)
    claim(r, KS, EXCHANGE, me="b", replace=True)
    assert not r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == b"exchange"


def test_a_health_key_of_another_namespace_does_not_block(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIM_A)
    _fill(r, KS)
    r.set(Keyspace(namespace="prod:").health("x"), "{}", ex=10)
    claim(r, KS, EXCHANGE, me="b", replace=True)
    assert not r.exists(KS.state("BTCUSDT"))


async def test_a_run_that_cannot_reach_the_exchange_changes_nothing(
    redis_shared: Any, autojump_clock: trio.abc.Clock
) -> None:
    """The claim waits for the exchange's answer: an unreachable exchange leaves the demo
    data and its origin mark as they were."""
    r = redis_shared.client()
    claim(r, KS, SIM_A)
    _fill(r, KS)
    cfg = RunConfig(redis_url="", rest_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1")
    ing = Ingester(cfg, get_source("spot"), r, claim=StoreClaim(replace=True))
    with trio.fail_after(600), pytest.raises(ExchangeUnavailable):
        await ing.run()
    assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == SIM_A.encode()


async def _run_against(sim: Simulator, r: Any, store_claim: StoreClaim) -> Ingester:
    """An ingester on ``sim`` (no --simulate: its origin is what ``sim`` serves), run
    until live, then stopped."""
    cfg = RunConfig(redis_url="", ws_url=sim.ws_url, rest_url=sim.rest_url)
    ing = Ingester(cfg, get_source("spot"), r, claim=store_claim)
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as n:
                await n.start(ing.run)
                ing.stop()
    except BaseException as exc:  # the refusal, out of trio's exception groups
        raise orders_error_in(exc) or exc from None
    return ing


async def test_a_run_against_a_simulator_marks_the_store_as_simulator_data(
    redis_shared: Any,
) -> None:
    """`orders run --ws-url/--rest-url` against `orders sim`: the data is the simulator's
    (so the demo is not poisoned), and a restart against the same simulator resumes."""
    r = redis_shared.client()
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, total_rate=10.0))
    async with trio.open_nursery() as n:
        await n.start(sim.serve)
        ing = await _run_against(sim, r, StoreClaim())
        assert ing.admitted.is_set()
        origin = r.get(KS.origin())
        assert origin is not None and origin.startswith(b"simulator:")
        held = r.scard(KS.symbols())
        assert held > 0
        await _run_against(sim, r, StoreClaim())  # same instance: no consent needed
        assert r.get(KS.origin()) == origin and r.scard(KS.symbols()) == held
        n.cancel_scope.cancel()


async def test_a_run_asks_before_deleting_and_keeps_the_data_on_no(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIM_A)
    _fill(r, KS)
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    sim = Simulator(SimConfig.from_fixture(n_symbols=3, total_rate=10.0))
    async with trio.open_nursery() as n:
        await n.start(sim.serve)
        with pytest.raises(StoreNotReplaced, match="nothing deleted"):
            await _run_against(sim, r, StoreClaim(confirm=no))
        assert len(asked) == 1 and "5 keys" in asked[0], asked
        assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == SIM_A.encode()
        await _run_against(sim, r, StoreClaim(confirm=lambda _q: True))
        assert not r.exists(KS.state("BTCUSDT"))
        n.cancel_scope.cancel()


async def test_a_run_claims_once_the_exchange_answered(redis_shared: Any) -> None:
    """With the exchange reachable, the claim is made before anything is written (here:
    the demo refuses a keyspace holding exchange data, and nothing of the demo's listing
    was written)."""
    r = redis_shared.client()
    claim(r, KS, EXCHANGE)
    _fill(r, KS)
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, total_rate=10.0))
    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            with pytest.raises(UsageError, match="already holds exchange data"):
                await _run_against(sim, r, StoreClaim(replace=True))
            n.cancel_scope.cancel()
    assert r.get(KS.origin()) == b"exchange"
    assert not r.keys("symbol:*"), "nothing written before the claim"
