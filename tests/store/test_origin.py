"""Demo data and exchange data never mix: a new simulation starts clean, a real run
clears demo data, and the demo refuses a Redis that holds exchange data."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.errors import ExchangeUnavailable, KeyspaceInUse, UsageError
from orders_cli.ingest.ingester import Ingester
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import EXCHANGE, SIMULATOR, claim

KS = Keyspace()


def _fill(r: Any, ks: Keyspace) -> None:
    r.zadd(ks.trades_latest("BTCUSDT"), {"x": 1})
    r.hset(ks.state("BTCUSDT"), "watermark", 5)
    r.sadd(ks.symbols(), "BTCUSDT")


def test_a_new_simulation_clears_the_previous_one(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIMULATOR)
    _fill(r, KS)
    r.set("unrelated", 1)
    r.zadd(Keyspace(namespace="prod:").trades_latest("BTCUSDT"), {"y": 1})
    claim(r, KS, SIMULATOR)
    assert not r.exists(KS.trades_latest("BTCUSDT"), KS.state("BTCUSDT"), KS.symbols())
    assert r.exists("unrelated") and r.exists(Keyspace(namespace="prod:").trades_latest("BTCUSDT"))


def test_the_demo_refuses_exchange_data_and_a_real_run_clears_demo_data(redis_shared: Any) -> None:
    r = redis_shared.client()
    _fill(r, KS)  # unmarked data: someone's real store
    with pytest.raises(UsageError):
        claim(r, KS, SIMULATOR)
    assert r.exists(KS.state("BTCUSDT"))
    claim(r, KS, EXCHANGE)
    assert r.exists(KS.state("BTCUSDT")), "a real run keeps unmarked data"
    with pytest.raises(UsageError):
        claim(r, KS, SIMULATOR)
    r.flushall()
    claim(r, KS, EXCHANGE)  # a real run that never stored anything (offline, say)
    claim(r, KS, SIMULATOR)  # does not block the demo
    _fill(r, KS)
    claim(r, KS, EXCHANGE)
    assert not r.exists(KS.state("BTCUSDT"))
    assert r.get(KS.origin()) == b"exchange"


def test_nothing_is_cleared_while_another_ingester_reports(redis_shared: Any) -> None:
    """Two demos on one keyspace, or a real run beside a live demo: the second would clear
    what the first is writing. It refuses instead; its own health key does not count."""
    r = redis_shared.client()
    claim(r, KS, SIMULATOR, me="a")
    _fill(r, KS)
    r.set(KS.health("a"), "{}", ex=10)
    claim(r, KS, SIMULATOR, me="a")  # alone (its own key): a new demo starts clean
    assert not r.exists(KS.state("BTCUSDT"))
    _fill(r, KS)
    r.set(KS.health("a"), "{}", ex=10)  # the demo "a" is running
    for origin in (SIMULATOR, EXCHANGE):
        with pytest.raises(KeyspaceInUse, match="1 other running ingester"):
            claim(r, KS, origin, me="b")
        assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == b"simulator"
    assert KeyspaceInUse.exit_code == 2
    r.delete(KS.health("a"))  # it stopped (or its key expired after a crash)
    claim(r, KS, EXCHANGE, me="b")
    assert not r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == b"exchange"


def test_a_health_key_of_another_namespace_does_not_block(redis_shared: Any) -> None:
    r = redis_shared.client()
    claim(r, KS, SIMULATOR)
    _fill(r, KS)
    r.set(Keyspace(namespace="prod:").health("x"), "{}", ex=10)
    claim(r, KS, EXCHANGE, me="b")
    assert not r.exists(KS.state("BTCUSDT"))


async def test_a_run_that_cannot_reach_the_exchange_changes_nothing(
    redis_shared: Any, autojump_clock: trio.abc.Clock
) -> None:
    """The claim waits for the exchange's answer: an unreachable exchange leaves the demo
    data and its origin mark as they were."""
    r = redis_shared.client()
    claim(r, KS, SIMULATOR)
    _fill(r, KS)
    cfg = RunConfig(redis_url="", rest_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1")
    ing = Ingester(cfg, get_source("spot"), r, origin=EXCHANGE)
    with trio.fail_after(600), pytest.raises(ExchangeUnavailable):
        await ing.run()
    assert r.exists(KS.state("BTCUSDT")) and r.get(KS.origin()) == b"simulator"


async def test_a_run_claims_once_the_exchange_answered(redis_shared: Any) -> None:
    """The other side of the test above: with the exchange reachable, the claim is made
    before anything is written (here: the demo refuses a keyspace holding exchange data,
    and nothing of the demo's listing was written)."""
    r = redis_shared.client()
    claim(r, KS, EXCHANGE)
    _fill(r, KS)
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, total_rate=10.0))
    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            cfg = RunConfig(redis_url="", ws_url=sim.ws_url, rest_url=sim.rest_url)
            ing = Ingester(cfg, get_source("spot"), r, origin=SIMULATOR)
            with pytest.raises(UsageError, match="already holds exchange data"):
                await ing.run()
            n.cancel_scope.cancel()
    assert r.get(KS.origin()) == b"exchange"
    assert not r.keys("symbol:*"), "nothing written before the claim"
