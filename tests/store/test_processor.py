"""The writer's core against a real (private) redis-server: exactly-once, gaps, reorder,
late fills, cold start, conflicts between two writers, stream ids that only grow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from orders_cli.messages import (
    Backfilled,
    ColdStart,
    ColdStartDone,
    Dropped,
    ExchangeHole,
    GapRequest,
    HeadSeen,
)
from orders_cli.models import Trade
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_stream_fields, encode_member
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor

KS = Keyspace()
T0 = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.mono = 0.0

    def monotonic(self) -> float:
        return self.mono


def trade(a: int, t: int | None = None, price: str = "100.10000000", sym: str = "BTCUSDT") -> Trade:
    tt = T0 + a * 10 if t is None else t
    return Trade(sym, a, price, "0.50000000", a * 2, a * 2 + 1, tt, a % 2 == 0, tt + 3)


def make(redis: Any, clock: Clock, cold: bool = False, hold: bool = False) -> Processor:
    return Processor(
        redis,
        KS,
        PlanConfig(first_agg_id=0, cold_start=cold, reorder_s=0.25, first_sight_hold=hold),
        clock_ms=lambda: T0 + 10_000_000,
        monotonic=clock.monotonic,
    )


@pytest.fixture
def r(redis_shared: Any) -> Any:
    return redis_shared.client()


def stored_ids(r: Any, sym: str = "BTCUSDT") -> list[int]:
    return [int(orjson.loads(m)["agg_trade_id"]) for m in r.zrange(KS.trades_latest(sym), 0, -1)]


def stream_ids(r: Any, sym: str = "BTCUSDT") -> list[int]:
    return [int(f[b"a"]) for _, f in r.xrange(KS.trades_stream(sym))]


def gaps(r: Any, sym: str = "BTCUSDT") -> list[list[Any]]:
    raw = r.hget(KS.state(sym), "gaps")
    return orjson.loads(raw) if raw else []


def test_in_order_trades_stored_exactly_once_with_exact_members(r: Any) -> None:
    p = make(r, Clock())
    trades = [trade(a) for a in range(10, 20)]
    out = p.process(trades)
    assert out.counters["trades_stored"] == 10
    members = r.zrange(KS.trades_latest("BTCUSDT"), 0, -1, withscores=True)
    assert [m for m, _ in members] == [encode_member(t) for t in trades]
    assert [int(s) for _, s in members] == [t.trade_time for t in trades]
    entries = r.xrange(KS.trades_stream("BTCUSDT"))
    assert [decode_stream_fields("BTCUSDT", f) for _, f in entries] == trades
    assert int(r.hget(KS.state("BTCUSDT"), "watermark")) == 19
    assert int(r.hget(KS.symbol_info("BTCUSDT"), "last_trade_time")) == trades[-1].trade_time
    assert r.sismember(KS.symbols(), "BTCUSDT")
    # replay: all duplicates, nothing written twice
    out = p.process(trades)
    assert out.counters["duplicates"] == 10 and out.counters["trades_stored"] == 0
    assert stored_ids(r) == list(range(10, 20)) and stream_ids(r) == list(range(10, 20))


def test_current_window_is_the_newest_trades_100ms_window(r: Any) -> None:
    p = make(r, Clock())
    ts = [trade(1, T0 + 5), trade(2, T0 + 50), trade(3, T0 + 120), trade(4, T0 + 199)]
    p.process(ts)
    cur = {k.decode(): v.decode() for k, v in r.hgetall(KS.stats_current("BTCUSDT")).items()}
    assert int(cur["window_start"]) == T0 + 100
    assert cur["trades_count"] == "2"
    assert Decimal(cur["volume"]) == Decimal("1.00000000")
    # a late trade of an older window never overwrites it
    p.process([Backfilled("BTCUSDT", (trade(0, T0 + 1),))])
    cur2 = {k.decode(): v.decode() for k, v in r.hgetall(KS.stats_current("BTCUSDT")).items()}
    assert cur2 == cur


def test_out_of_order_equal_T_burst_records_no_gap(r: Any) -> None:
    clock = Clock()
    p = make(r, clock)
    p.process([trade(139, T0)])
    burst = [trade(a, T0 + 7) for a in (140, 145, 147, 143, 142, 141, 146, 144)]
    out = p.process(burst[:3])
    clock.mono += 0.1  # within the reorder window
    out2 = p.process(burst[3:])
    assert out.gap_requests == [] and out2.gap_requests == []
    assert out.counters["gaps_opened"] + out2.counters["gaps_opened"] == 0
    assert stored_ids(r) == list(range(139, 148))
    assert gaps(r) == []


def test_gap_declared_after_reorder_window_then_filled_by_backfill(r: Any) -> None:
    clock = Clock()
    p = make(r, clock)
    p.process([trade(1), trade(2)])
    out = p.process([trade(6), trade(7)])
    assert out.gap_requests == [] and stored_ids(r) == [1, 2]  # held, not yet a gap
    clock.mono += 1.0
    out = p.process([])
    assert out.gap_requests == [GapRequest("BTCUSDT", 3, 5, priority=0)]
    assert stored_ids(r) == [1, 2, 6, 7]
    assert [g[:2] for g in gaps(r)] == [[3, 5]]
    out = p.process([Backfilled("BTCUSDT", tuple(trade(a) for a in (3, 4, 5, 6)))])
    assert out.counters["late_trades"] == 3 and out.counters["duplicates"] == 1
    assert stored_ids(r) == [1, 2, 3, 4, 5, 6, 7]
    assert gaps(r) == []
    ids = [e for e, _ in r.xrange(KS.trades_stream("BTCUSDT"))]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split(b"-"))))
    assert len(ids) == 7


def test_T_backwards_pair_passes_through_with_growing_stream_ids(r: Any) -> None:
    p = make(r, Clock())
    p.process([trade(1, T0 + 500), trade(2, T0 + 400), trade(3, T0 + 400)])
    ids = [e.decode() for e, _ in r.xrange(KS.trades_stream("BTCUSDT"))]
    assert ids == [f"{T0 + 500}-0", f"{T0 + 500}-1", f"{T0 + 500}-2"]
    assert stream_ids(r) == [1, 2, 3]


def test_cold_start_gap_then_trimmed_by_backfill(r: Any) -> None:
    p = make(r, Clock(), cold=True)
    out = p.process([trade(100)])
    assert out.cold_starts == [ColdStart("BTCUSDT", T0 + 10_000_000 - 86_400_000, 100)]
    assert gaps(r)[0][:2] == [0, 99] and gaps(r)[0][4] is True
    p.process([Backfilled("BTCUSDT", tuple(trade(a) for a in range(90, 100)))])
    p.process([ColdStartDone("BTCUSDT", 90)])
    assert gaps(r) == []
    assert stored_ids(r) == list(range(90, 101))


def test_new_listing_first_id_zero_is_not_swallowed(r: Any) -> None:
    p = make(r, Clock(), cold=True)
    out = p.process([trade(0), trade(1)])
    assert out.cold_starts == [] and gaps(r) == []
    assert stored_ids(r) == [0, 1]


def test_dropped_and_head_seen_open_gaps_even_without_a_later_trade(r: Any) -> None:
    p = make(r, Clock())
    p.process([trade(1)])
    out = p.process([Dropped("BTCUSDT", 4, 3)])
    assert out.gap_requests == [GapRequest("BTCUSDT", 2, 4)]
    out = p.process([HeadSeen("BTCUSDT", 6)])
    assert out.gap_requests == [GapRequest("BTCUSDT", 5, 6)]
    p.process([trade(7)])
    assert stored_ids(r) == [1, 7]


def test_exchange_side_hole_is_recorded_and_not_requested_again(r: Any) -> None:
    p = make(r, Clock())
    p.process([Backfilled("BTCUSDT", (trade(1), trade(5)))])
    assert [g[:2] for g in gaps(r)] == [[2, 4]]
    p.process([ExchangeHole("BTCUSDT", 2, 4)])
    assert [(g[0], g[1], g[3]) for g in gaps(r)] == [(2, 4, True)]
    fresh = make(r, Clock())
    assert fresh.preload(["BTCUSDT"]).gap_requests == []


def test_restart_resumes_open_gaps(r: Any) -> None:
    p = make(r, Clock())
    p.process([Backfilled("BTCUSDT", (trade(1), trade(9)))])
    fresh = make(r, Clock())
    assert fresh.preload(["BTCUSDT"]).gap_requests == [GapRequest("BTCUSDT", 2, 8, priority=1)]
    fresh.process([trade(10)])
    assert stored_ids(r) == [1, 9, 10]


def test_two_writers_conflict_and_never_double_store(r: Any) -> None:
    a, b = make(r, Clock()), make(r, Clock())
    a.process([trade(1), trade(2)])
    b.process([trade(1), trade(2), trade(3)])  # b's state was loaded before? no: loads now
    a.process([trade(3), trade(4)])  # a's cached revision is stale: conflict, reload
    b.process([trade(4), trade(5)])
    assert stored_ids(r) == [1, 2, 3, 4, 5]
    assert stream_ids(r) == [1, 2, 3, 4, 5]


def test_bars_updated_for_late_trades_in_closed_windows(r: Any) -> None:
    from orders_cli.stats.bars import bars_from_trades_reference
    from orders_cli.stats.codec import decode_bar

    p = make(r, Clock())
    early = [trade(a, T0 + a * 30_000) for a in range(0, 20) if a not in (3, 4)]
    p.process([Backfilled("BTCUSDT", tuple(early))])
    out = p.process([Backfilled("BTCUSDT", (trade(3, T0 + 90_000), trade(4, T0 + 120_000)))])
    assert out.counters["bar_corrections"] > 0
    everything = sorted(
        [*early, trade(3, T0 + 90_000), trade(4, T0 + 120_000)], key=lambda t: t.agg_id
    )
    want = bars_from_trades_reference(everything)
    for tf, bars in want.items():
        got = {
            int(s): decode_bar(m)
            for m, s in r.zrange(KS.bars("BTCUSDT", tf), 0, -1, withscores=True)
        }
        assert got.keys() == bars.keys(), tf
        for ws, bar in bars.items():
            diff = {
                f: (getattr(bar, f), getattr(got[ws], f))
                for f in bar._fields
                if getattr(bar, f) != getattr(got[ws], f)
            }
            assert not diff, (tf, ws, diff)


def test_first_sight_burst_out_of_order_is_held_not_lost(r: Any) -> None:
    clock = Clock()
    p = make(r, clock, hold=True)
    out = p.process([trade(12, T0), trade(10, T0), trade(11, T0)])
    assert stored_ids(r) == [] and out.counters["duplicates"] == 0
    clock.mono += 0.1
    p.process([trade(13, T0)])
    assert stored_ids(r) == []
    clock.mono += 0.2
    out = p.process([])
    assert stored_ids(r) == [10, 11, 12, 13]
    assert out.gap_requests == [] and gaps(r) == []
    assert int(r.hget(KS.state("BTCUSDT"), "watermark")) == 13


def test_silent_symbols_are_those_quiet_far_longer_than_usual(r: Any) -> None:
    now = {"ms": T0}
    p = Processor(
        r, KS, PlanConfig(cold_start=False, first_sight_hold=False), clock_ms=lambda: now["ms"]
    )
    busy = [trade(a, T0 + a * 100) for a in range(1, 30)]
    quiet = [trade(a, T0 + a * 100, sym="ETHUSDT") for a in range(1, 30)]
    for i in range(0, 29, 5):
        p.process(busy[i : i + 5] + quiet[i : i + 5])
    now["ms"] = T0 + 2_900 + 30_000
    assert p.silent_symbols() == []  # 30 s: under the 60 s floor
    p.process([trade(a, T0 + 2_900 + a * 10) for a in range(30, 40)])
    now["ms"] = T0 + 2_900 + 90_000
    assert p.silent_symbols() == ["BTCUSDT", "ETHUSDT"]
    assert p.silent_symbols(min_silence_ms=60_000, factor=10_000.0) == []


@pytest.mark.parametrize("tfs", [(), ("100ms",), ("1m", "1d")])
def test_only_the_chosen_timeframes_are_kept(r: Any, tfs: tuple[str, ...]) -> None:
    from orders_cli.timeframes import TIMEFRAMES

    p = Processor(r, KS, PlanConfig(cold_start=False, first_sight_hold=False), timeframes=tfs)
    p.process([trade(a) for a in range(1, 6)])
    assert stored_ids(r) == [1, 2, 3, 4, 5]
    for tf in TIMEFRAMES:
        assert bool(r.exists(KS.bars("BTCUSDT", tf))) == (tf in tfs), tf
    assert bool(r.exists(KS.stats_current("BTCUSDT"))) == ("100ms" in tfs)
