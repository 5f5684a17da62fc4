"""Retention against a wall clock that stepped forward: the cut is bounded by the newest
stored trade time, and the prune says so (real redis-server, the clock injected)."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

import orjson
import pytest
import redis

from orders_cli.store.keys import Keyspace
from orders_cli.store.prune import prune_once
from orders_cli.store.retention_policy import RetentionPolicy
from tests.ops.helpers import DAY_MS, HOUR_MS, NOW_MS, store, trade

KS = Keyspace(namespace="clock:")
POLICY = RetentionPolicy(trades_s=86400, stream_s=86400, bars_s={}, chunk=50)


@pytest.fixture
def r(redis_shared: object) -> redis.Redis:
    return redis_shared.client()  # type: ignore[attr-defined, no-any-return]  # RedisServer


def _seed_a_day(r: redis.Redis) -> None:
    """BTCUSDT and ETHUSDT, one trade an hour over the 24 h before NOW_MS, with the writer's
    ``last_trade_time`` in their state hashes."""
    for n, symbol in enumerate(("BTCUSDT", "ETHUSDT")):
        trades = [trade(symbol, i, NOW_MS - (23 - i) * HOUR_MS - n) for i in range(24)]
        store(r, KS, trades)
        r.hset(KS.state(symbol), mapping={"last_trade_time": trades[-1].trade_time})


def test_a_wall_clock_a_week_ahead_deletes_nothing_within_retention_and_says_so(
    r: redis.Redis,
) -> None:
    _seed_a_day(r)
    report = prune_once(r, KS, NOW_MS + 7 * DAY_MS, POLICY)
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 24
    assert r.zcard(KS.trades_latest("ETHUSDT")) == 24
    assert r.xlen(KS.trades_stream("BTCUSDT")) == 24
    assert report.cut_ms == NOW_MS  # the newest stored trade, not the wall clock
    assert not report.ok  # `orders prune` exits 1, "partial"
    assert any("ahead of the newest stored trade" in w for w in report.warnings)
    # the epoch ms only beside a readable UTC time
    assert any(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \(\d{13}\)", w)
               for w in report.warnings)  # fmt: skip
    assert report.to_json()["warnings"] == report.warnings


def test_the_cut_follows_the_newest_trade_when_the_clock_is_ahead(r: redis.Redis) -> None:
    _seed_a_day(r)
    report = prune_once(r, KS, NOW_MS + 3 * HOUR_MS, POLICY)
    # cut at NOW_MS - 24 h: nothing of the last 24 h of trades is older than that
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 24
    assert report.cut_ms == NOW_MS and not report.ok


def test_a_clock_within_five_minutes_of_the_newest_trade_is_no_warning(r: redis.Redis) -> None:
    _seed_a_day(r)
    report = prune_once(r, KS, NOW_MS + 4 * 60_000, POLICY)
    assert report.ok and report.warnings == []
    assert report.cut_ms == NOW_MS
    report = prune_once(r, KS, NOW_MS + DAY_MS // 2, RetentionPolicy(trades_s=6 * 3600))
    # half a day ahead: cut at the newest trade - 6 h: the 17 older trades go
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 7 and not report.ok


def test_a_wall_clock_behind_the_newest_trade_cuts_at_the_wall_clock(r: redis.Redis) -> None:
    _seed_a_day(r)
    report = prune_once(r, KS, NOW_MS - 12 * HOUR_MS, POLICY)
    assert report.ok and report.cut_ms == NOW_MS - 12 * HOUR_MS
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 24


def test_a_poisoned_far_future_trade_time_does_not_move_the_cut(r: redis.Redis) -> None:
    _seed_a_day(r)
    r.hset(KS.state("ETHUSDT"), "last_trade_time", NOW_MS * 1_000_000)  # stored before checks
    report = prune_once(r, KS, NOW_MS + 7 * DAY_MS, POLICY)
    assert report.cut_ms == NOW_MS and r.zcard(KS.trades_latest("BTCUSDT")) == 24


def test_orders_prune_exits_partial_when_the_clock_is_far_ahead_of_the_data(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """The host clock against data that stops two days ago (a clock that stepped forward
    looks the same to a prune): nothing of that last day goes, exit 1 and a warning."""
    from orders_cli.cli.app import main

    r = redis_shared.client()
    ks = Keyspace()
    last = int(time.time() * 1000) - 2 * DAY_MS
    trades = [trade("BTCUSDT", i, last - (10 - i) * HOUR_MS) for i in range(11)]
    store(r, ks, trades)
    r.hset(ks.state("BTCUSDT"), "last_trade_time", last)
    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["prune", "--keep", "24h", "--json", "--redis-url", redis_shared.url])
    sys.stdout.flush()
    out, _err = capfd.readouterr()
    assert info.value.code == 1
    report = orjson.loads(out)
    assert report["cut_ms"] == last and report["warnings"]
    assert r.zcard(ks.trades_latest("BTCUSDT")) == 11
