"""Demo data and exchange data never mix: a new simulation starts clean, a real run
clears demo data, and the demo refuses a Redis that holds exchange data."""

from __future__ import annotations

from typing import Any

import pytest

from orders_cli.errors import UsageError
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
