"""`orders tail`, `stats` and `verify` against a real Redis Cluster (3 primaries, a replica
each): the symbols' keys are on every primary; each command answers what it answers on one
redis-server holding the same trades (written by the store's own writer)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import trio

from orders_cli.clock import now_ms
from orders_cli.ops import verify_bars as vb
from orders_cli.ops.tail import Follower, Tailed
from orders_cli.redis_conn import connect
from orders_cli.store.member import encode_member
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from tests.ops import verify_helpers as vh
from tests.ops.cluster_helpers import KS, MINUTE_MS, SYMBOLS, Both, assert_spread, fill
from tests.ops.helpers import trade
from tests.redis_topologies import ClusterOfServers

pytestmark = pytest.mark.integration


@pytest.fixture
def both(redis_cluster_shared: ClusterOfServers, redis_shared: Any) -> Iterator[Both]:
    b = Both(redis_cluster_shared, redis_shared)
    yield b
    b.close()


def test_the_symbols_keys_are_on_every_primary(redis_cluster_shared: ClusterOfServers) -> None:
    assert_spread(redis_cluster_shared, [KS.trades_stream(s) for s in SYMBOLS])


def test_tail_since_no_follow_prints_every_symbols_history_as_on_one_server(
    both: Both, capfd: pytest.CaptureFixture[str]
) -> None:
    now = now_ms()
    trades = fill(both.rc, now)
    fill(both.r1, now)
    args = ("tail", *SYMBOLS, "--since", "30m", "--no-follow", "--json")
    (rc, out, err), (rc1, out1, _) = both.run(capfd, *args)
    assert rc == 0, err
    assert rc1 == 0 and out == out1
    window = sorted(
        (t for t in trades if t.trade_time >= now - 30 * MINUTE_MS), key=lambda t: t.trade_time
    )
    assert out.encode().splitlines() == [encode_member(t) for t in window]
    # the streams keep 10 min: the window's older part comes from the ZSETs (the hand-over)
    both.run(capfd, "prune", "--keep", "1h", "--stream-retention", "10m")
    assert both.rc.xlen(KS.trades_stream("BTCUSDT")) < 15
    (rc, out, err), (_, out1, _) = both.run(capfd, *args)
    assert rc == 0, err
    assert out == out1 and out.encode().splitlines() == [encode_member(t) for t in window]
    (rc, out, err), (_, out1, _) = both.run(
        capfd, "tail", "BTCUSDT", "--since", "1h", "-f", "-n", "3"
    )
    assert rc == 0, err
    assert out == out1 and len(out.splitlines()) == 3


def _ids(shown: list[Tailed]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for s in shown:
        out.setdefault(s.trade.symbol, []).append(s.trade.agg_id)
    return out


async def test_tail_follows_symbols_on_every_primary_each_trade_once(
    redis_cluster_shared: ClusterOfServers,
) -> None:
    r = connect(redis_cluster_shared.url)
    now = now_ms()
    fill(r, now, per_symbol=20)
    follower = Follower.start(r, KS, list(SYMBOLS), now - 5 * MINUTE_MS)
    shown = list(follower.history(r))
    assert _ids(shown) == {s: list(range(16, 21)) for s in SYMBOLS}
    writer = Processor(r, KS, PlanConfig(first_agg_id=1, cold_start=False, first_sight_hold=False))
    live = [[trade(s, a, now + 10 * a) for s in SYMBOLS] for a in range(21, 41)]

    async def write() -> None:
        for batch in live:
            await trio.to_thread.run_sync(writer.process, batch)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            while len(shown) < len(SYMBOLS) * 25:
                shown += await trio.to_thread.run_sync(follower.read, r, 200)
        assert await trio.to_thread.run_sync(follower.read, r, 50) == []  # nothing twice
    assert _ids(shown) == {s: list(range(16, 41)) for s in SYMBOLS}
    assert not any(s.late for s in shown)
    # one symbol alone (one slot: a blocking XREAD) wakes up for a trade at once
    one = Follower.start(r, KS, ["DOGEUSDT"], None)
    writer.process([trade("DOGEUSDT", 41, now + 500)])
    with trio.fail_after(5):
        got = await trio.to_thread.run_sync(one.read, r, 2000)
    assert [s.trade.agg_id for s in got] == [41]
    r.close()


async def test_tail_cli_follows_several_symbols_as_a_user_runs_it(
    redis_cluster_shared: ClusterOfServers,
) -> None:
    r = connect(redis_cluster_shared.url)
    now = now_ms()
    fill(r, now, per_symbol=3)
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "orders_cli", "tail", *SYMBOLS, "--since", "60s", "--count",
         str(2 * len(SYMBOLS)), "--json", "--redis-url", redis_cluster_shared.url],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    buf = b""
    writer = Processor(r, KS, PlanConfig(first_agg_id=1, cold_start=False, first_sight_hold=False))
    live = [trade(s, 4, now + 10 + k) for k, s in enumerate(SYMBOLS)]
    with trio.fail_after(30):
        while buf.count(b"\n") < len(SYMBOLS):  # the history: tail runs and caught up
            buf += await proc.stdout.receive_some()
        await trio.to_thread.run_sync(writer.process, live)
        while chunk := await proc.stdout.receive_some():
            buf += chunk
        assert await proc.wait() == 0
    lines = buf.splitlines()
    assert sorted(lines[len(SYMBOLS) :]) == sorted(encode_member(t) for t in live)
    r.close()


def test_stats_and_tail_stats_answer_as_on_one_server(
    both: Both, capfd: pytest.CaptureFixture[str]
) -> None:
    now = now_ms()
    fill(both.rc, now)
    fill(both.r1, now)
    for s in SYMBOLS:
        (rc, out, err), (_, out1, _) = both.run(capfd, "stats", s, "--last", "50", "--json")
        assert rc == 0, err
        assert out == out1 and len(orjson.loads(out)["bars"]) == 40
    args = ("tail", *SYMBOLS, "--stats", "--no-follow", "-n", "5", "--json")
    (rc, out, err), (_, out1, _) = both.run(capfd, *args)
    assert rc == 0, err
    assert out == out1 and len(out.splitlines()) == len(SYMBOLS)


async def test_verify_checks_bars_finds_a_missing_trade_and_repairs_it(
    redis_cluster_shared: ClusterOfServers,
) -> None:
    r = connect(redis_cluster_shared.url)
    async with vh.running_sim(vh.sim_config()) as sim:
        truth = vh.truth_trades(sim, vh.SYM)
        vh.store(r, truth + vh.truth_trades(sim, vh.OTHER))
        report = await vh.verify(r, sim, bars=True)
        assert report.clean, [s.as_dict() for s in report.symbols]
        assert all(s.as_dict()["bars_compared"] for s in report.symbols)
        snap = vb.read_snapshot(r, KS, vh.SYM, 0)
        assert len(snap.trades) == len(truth) and snap.bars["1m"]

        victim = truth[40].agg_id
        vh.delete_trade(r, vh.SYM, victim)
        report = await vh.verify(r, sim, vh.SYM)
        assert report.symbols[0].as_dict()["missing"] == [[victim, victim]]
        report = await vh.verify(r, sim, vh.SYM, repair=True)
        assert report.symbols[0].repaired == 1
        report = await vh.verify(r, sim, vh.SYM)  # (its bars counted the deleted trade)
        assert report.clean, [s.as_dict() for s in report.symbols]
    stored = [orjson.loads(m) for m in r.zrange(KS.trades_latest(vh.SYM), 0, -1)]
    assert [int(m["agg_trade_id"]) for m in stored] == [t.agg_id for t in truth]
    r.close()


def test_verify_repair_records_its_gaps_in_the_symbols_state_on_its_primary(
    redis_cluster_shared: ClusterOfServers,
) -> None:
    from orders_cli.ops import verify_redis as vr
    from orders_cli.ops.verify_ids import IdRange

    r = connect(redis_cluster_shared.url)
    fill(r, now_ms(), per_symbol=10)
    for s in SYMBOLS:
        rev = int(r.hget(KS.state(s), "revision") or 0)
        assert vr.record_gaps(r, KS, s, [IdRange(3, 4)]) == 2
        state = r.hgetall(KS.state(s))
        assert int(state[b"revision"]) == rev + 1
        assert [g[:2] for g in orjson.loads(state[b"gaps"])] == [[3, 4]]
    r.close()
