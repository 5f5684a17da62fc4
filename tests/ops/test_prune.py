"""prune_once against a real redis-server: exactly what is past retention goes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis

from orders_cli.errors import LockHeld
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member, encode_member
from orders_cli.store.prune import prune_once
from orders_cli.store.prune_lock import PruneLock
from orders_cli.store.retention_policy import RetentionPolicy
from tests.ops.helpers import DAY_MS, HOUR_MS, NOW_MS, bar, set_gaps, store, trade

KS = Keyspace()
POLICY = RetentionPolicy(
    trades_s=86400,
    stream_s=86400,
    bars_s={"1m": 7 * 86400.0, "1d": None},
    malformed_s=3600,
    chunk=7,
)


@pytest.fixture
def r(redis_shared: object) -> redis.Redis:
    return redis_shared.client()  # type: ignore[attr-defined, no-any-return]  # RedisServer


def _seed(r: redis.Redis) -> tuple[list[bytes], list[bytes]]:
    """30 old + 20 fresh trades of BTCUSDT, 5 fresh of ETHUSDT; returns (old, fresh)."""
    old = [trade("BTCUSDT", i, NOW_MS - DAY_MS - 1000 * (30 - i)) for i in range(30)]
    fresh = [trade("BTCUSDT", 30 + i, NOW_MS - DAY_MS + i) for i in range(20)]
    eth = [trade("ETHUSDT", i, NOW_MS - HOUR_MS) for i in range(5)]
    store(r, KS, old + fresh + eth)
    return [encode_member(t) for t in old], [encode_member(t) for t in fresh]


def test_removes_exactly_what_is_past_retention(r: redis.Redis) -> None:
    _old, fresh = _seed(r)
    for day in range(10):
        bar(r, KS, "BTCUSDT", "1m", NOW_MS - day * DAY_MS)
        bar(r, KS, "BTCUSDT", "1d", NOW_MS - day * DAY_MS)
    set_gaps(
        r,
        KS,
        "BTCUSDT",
        [[5, 6, NOW_MS - 2 * DAY_MS, True], [7, 8, NOW_MS - 2 * DAY_MS, False], [9, 9, NOW_MS, 1]],
    )
    r.lpush(KS.malformed_samples(), orjson.dumps({"at_ms": NOW_MS - 2 * HOUR_MS, "raw": "x"}))
    r.lpush(KS.malformed_samples(), orjson.dumps({"at_ms": NOW_MS - 1, "raw": "y"}))

    report = prune_once(r, KS, NOW_MS, POLICY)

    assert report.ok
    assert set(r.zrange(KS.trades_latest("BTCUSDT"), 0, -1)) == set(fresh)
    assert r.zcard(KS.trades_latest("ETHUSDT")) == 5
    ids = [int(i.split(b"-")[0]) for i, _ in r.xrange(KS.trades_stream("BTCUSDT"))]
    assert len(ids) == 20 and min(ids) >= NOW_MS - DAY_MS
    assert r.xlen(KS.trades_stream("ETHUSDT")) == 5
    # 1m keeps 7 days (day 7 is exactly at the cutoff: kept), 1d is unbounded
    assert r.zcard(KS.bars("BTCUSDT", "1m")) == 8
    assert r.zcard(KS.bars("BTCUSDT", "1d")) == 10
    state = r.hgetall(KS.state("BTCUSDT"))
    assert orjson.loads(state[b"gaps"]) == [[7, 8, NOW_MS - 2 * DAY_MS, False], [9, 9, NOW_MS, 1]]
    assert state[b"revision"] == b"8"  # bumped so the writer reloads
    assert r.llen(KS.malformed_samples()) == 1
    totals = report.totals
    assert totals["trades"] == 30 and totals["stream"] == 30 and totals["bars"] == 2
    assert totals["gaps"] == 1 and totals["malformed"] == 1
    assert not r.exists(KS.prune_lock())

    again = prune_once(r, KS, NOW_MS, POLICY)  # idempotent
    assert again.ok and sum(again.totals.values()) - again.totals["symbols"] == 0
    assert r.hget(KS.state("BTCUSDT"), "revision") == b"8"


def test_dry_run_counts_and_deletes_nothing(r: redis.Redis) -> None:
    _seed(r)
    r.lpush(KS.malformed_samples(), orjson.dumps({"at_ms": NOW_MS - 2 * HOUR_MS}))
    report = prune_once(r, KS, NOW_MS, POLICY, dry_run=True)
    assert report.totals["trades"] == 30 and report.totals["stream"] == 30
    assert report.totals["malformed"] == 1
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 50
    assert r.xlen(KS.trades_stream("BTCUSDT")) == 50
    assert r.llen(KS.malformed_samples()) == 1


def test_killed_midway_loses_nothing_and_runs_again(r: redis.Redis) -> None:
    _old, fresh = _seed(r)
    calls: list[int] = []

    def boom(key: str, n: int) -> None:
        calls.append(n)
        if len(calls) == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        prune_once(r, KS, NOW_MS, POLICY, progress=boom)
    remaining = set(r.zrange(KS.trades_latest("BTCUSDT"), 0, -1))
    assert set(fresh) <= remaining  # nothing within retention was lost
    assert len(remaining) == 50 - sum(calls)  # only whole, past-retention chunks went
    assert not r.exists(KS.prune_lock())
    report = prune_once(r, KS, NOW_MS, POLICY)
    assert report.ok
    assert set(r.zrange(KS.trades_latest("BTCUSDT"), 0, -1)) == set(fresh)


def test_second_prune_sees_the_lock(r: redis.Redis) -> None:
    _seed(r)
    with PruneLock(r, KS.prune_lock()) as held:
        with pytest.raises(LockHeld) as info:
            prune_once(r, KS, NOW_MS, POLICY)
        assert info.value.exit_code == 75
        assert r.get(KS.prune_lock()) == held.token.encode()  # not released by the loser
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 50
    assert prune_once(r, KS, NOW_MS, POLICY).totals["trades"] == 30


def test_lock_release_is_compare_and_delete(r: redis.Redis) -> None:
    lock = PruneLock(r, KS.prune_lock(), ttl_ms=10_000)
    lock.acquire()
    r.set(KS.prune_lock(), "someone-else")  # ours expired and another prune took it
    lock.release()
    assert r.get(KS.prune_lock()) == b"someone-else"
    with pytest.raises(LockHeld):
        lock.refresh()


def test_archive_round_trip(r: redis.Redis, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from orders_cli.store.archive import list_archive, read_rows

    old, fresh = _seed(r)
    day_ms = 1_759_968_000_000  # 2025-10-09T00:00:00Z
    cross = [trade("BTCUSDT", 100 + i, day_ms - 2 + i, price="0.00000100") for i in range(4)]
    store(r, KS, cross)  # two on 2025-10-08, two on 2025-10-09 — all past retention
    report = prune_once(r, KS, NOW_MS + DAY_MS, POLICY, archive_dir=tmp_path)
    assert report.ok, report.to_json()
    files = list_archive(tmp_path)
    assert {(f.symbol, f.day) for f in files} == {
        ("BTCUSDT", "2025-10-08"),
        ("BTCUSDT", "2025-10-09"),
        ("ETHUSDT", "2025-10-09"),
    }
    assert all(not f.problems for f in files)
    rows = [row for f in files for row in read_rows(f.path)]
    expected = [decode_member(m) for m in old + fresh] + cross
    expected += [trade("ETHUSDT", i, NOW_MS - HOUR_MS) for i in range(5)]
    assert len(rows) == len(expected) == 30 + 20 + 4 + 5
    by_key = {(row["symbol"], row["agg_trade_id"]): row for row in rows}
    for t in expected:
        row = by_key[(t.symbol, t.agg_id)]
        assert row["price"] == Decimal(t.price) and row["quantity"] == Decimal(t.quantity)
        assert isinstance(row["price"], Decimal)
        assert (row["trade_time"], row["first_trade_id"], row["last_trade_id"]) == (
            t.trade_time,
            t.first_trade_id,
            t.last_trade_id,
        )
        assert row["is_buyer_maker"] == t.is_buyer_maker
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 0

    # a second archive pass into the same day file merges, never duplicates
    store(r, KS, cross[:1])
    prune_once(r, KS, NOW_MS + DAY_MS, POLICY, archive_dir=tmp_path)
    assert sum(f.rows for f in list_archive(tmp_path)) == len(expected)


def test_archive_failure_deletes_nothing(r: redis.Redis, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    _seed(r)
    blocker = tmp_path / "spot"
    blocker.write_text("not a directory")
    report = prune_once(r, KS, NOW_MS, POLICY, archive_dir=tmp_path)
    assert not report.ok
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 50
    assert r.xlen(KS.trades_stream("BTCUSDT")) == 50  # stream kept too


@pytest.mark.parametrize("hostile", ["../evil", "../../etc", "/abs", "..", ".", "a/b", "a\\b"])
def test_archive_never_writes_outside_its_dir_whatever_symbol_names_redis_holds(
    r: redis.Redis, tmp_path: Path, hostile: str
) -> None:
    pytest.importorskip("pyarrow")
    old = NOW_MS - 2 * DAY_MS
    store(r, KS, [trade(hostile, i, old + i) for i in range(3)])
    store(r, KS, [trade("币安人生USDT", i, old + i) for i in range(3)])  # real, non-ASCII
    archive = tmp_path / "archive"
    archive.mkdir()
    for dry_run in (True, False):
        report = prune_once(r, KS, NOW_MS, POLICY, archive_dir=archive, dry_run=dry_run)
        assert not report.ok
        bad = [s for s in report.symbols if s.symbol == hostile]
        assert bad and "unsafe" in (bad[0].error or "")
        assert all(archive.resolve() in Path(p).resolve().parents for s in report.symbols
                   for p in s.archived)  # fmt: skip
    outside = [p for p in tmp_path.rglob("*") if archive not in p.parents and p != archive]
    assert outside == []
    assert r.zcard(KS.trades_latest(hostile)) == 3  # not archived: not deleted
    assert r.zcard(KS.trades_latest("币安人生USDT")) == 0  # archived, then pruned


def test_the_stream_goes_at_its_own_shorter_retention_and_the_zset_keeps_the_day(
    r: redis.Redis,
) -> None:
    trades = [trade("BTCUSDT", i, NOW_MS - 3 * HOUR_MS + i * 60_000) for i in range(180)]
    store(r, KS, trades)  # one a minute over the last 3 h

    report = prune_once(r, KS, NOW_MS, RetentionPolicy(trades_s=86400, stream_s=3600))

    assert report.ok and report.totals["trades"] == 0
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 180
    kept = [int(f[b"a"]) for _, f in r.xrange(KS.trades_stream("BTCUSDT"))]
    assert kept == list(range(120, 180))  # trade time >= now - 1 h
    assert report.totals["stream"] == 120


def test_the_stream_never_keeps_more_than_the_zset() -> None:
    policy = RetentionPolicy(trades_s=600, stream_s=3600)
    assert policy.stream_cutoff_ms(NOW_MS) == NOW_MS - 600_000
    assert RetentionPolicy().stream_s == 3600
