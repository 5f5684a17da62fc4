"""Lazy roll-up of coarse bars (store/rollup.py): written less often, never wrong, and
recomputed from Redis when a writer dies with deltas not rolled up."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders_cli.messages import Backfilled
from orders_cli.models import Trade
from orders_cli.stats.bars import Bar, bars_from_trades_reference
from orders_cli.stats.codec import decode_bar
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.store.rollup import decode_marker, encode_marker
from orders_cli.timeframes import TIMEFRAMES

KS = Keyspace()
SYM = "ETHUSDT"
T0 = 1_700_000_080_000  # 40 s into a minute
NOW = T0 + 600_000  # the writer's wall clock: every trade below is recent


class Clock:
    def __init__(self) -> None:
        self.mono = 0.0

    def monotonic(self) -> float:
        return self.mono


def trade(a: int, t: int, price: str = "2000.5") -> Trade:
    return Trade(SYM, a, price, "0.25", a * 3, a * 3 + 2, t, a % 3 == 0, t + 5)


def make(r: Any, clock: Clock, rollup_s: float = 1.0, now: int = NOW) -> Processor:
    return Processor(
        r,
        KS,
        PlanConfig(first_agg_id=0, cold_start=False, first_sight_hold=False),
        rollup_s=rollup_s,
        clock_ms=lambda: now,
        monotonic=clock.monotonic,
    )


def stored_bars(r: Any, tf: str) -> dict[int, Bar]:
    return {int(s): decode_bar(m) for m, s in r.zrange(KS.bars(SYM, tf), 0, -1, withscores=True)}


def assert_bars_match_stored_trades(r: Any) -> None:
    trades = [decode_member(m) for m in r.zrange(KS.trades_latest(SYM), 0, -1)]
    want = bars_from_trades_reference(trades)
    for tf in TIMEFRAMES:
        assert stored_bars(r, tf) == want[tf], tf


@pytest.fixture
def r(redis_shared: Any) -> Any:
    return redis_shared.client()


def test_marker_round_trip() -> None:
    assert encode_marker([120_000, 60_000, 120_000]) == "60000,120000"
    assert decode_marker(b"60000,120000") == (60_000, 120_000)
    assert decode_marker(None) == decode_marker(b"") == ()


def test_coarse_bars_wait_for_the_interval_then_equal_the_trades(r: Any) -> None:
    clock = Clock()
    p = make(r, clock)
    p.process([trade(0, T0)])  # not rolled up for a while: rolled up in its own apply
    assert_bars_match_stored_trades(r)
    assert not p.needs_tick()
    first_minute = stored_bars(r, "1m")
    clock.mono = 0.2
    p.process([trade(1, T0 + 30)])
    assert stored_bars(r, "100ms")  # the base timeframe is written at once
    assert stored_bars(r, "1m") == first_minute  # the coarse ones wait
    assert r.hget(KS.state(SYM), "rollup") == str(T0 - T0 % 60_000).encode()
    assert p.needs_tick()
    clock.mono = 0.5
    p.process([trade(2, T0 + 25_000)])  # into the next minute: two windows pending
    assert stored_bars(r, "1m") == first_minute
    assert len(decode_marker(r.hget(KS.state(SYM), "rollup"))) == 2
    clock.mono = 1.2
    p.process([])  # due: rolled up without new input
    assert_bars_match_stored_trades(r)
    assert r.hget(KS.state(SYM), "rollup") == b""
    assert not p.needs_tick()


def test_a_trade_after_the_interval_is_rolled_up_in_its_own_apply(r: Any) -> None:
    clock = Clock()
    p = make(r, clock)
    p.process([trade(0, T0)])
    clock.mono = 0.3
    p.process([trade(1, T0 + 1_000)])
    assert p.needs_tick()
    clock.mono = 1.0  # one interval after the last roll-up: this apply rolls up too
    p.process([trade(2, T0 + 2_000)])
    assert_bars_match_stored_trades(r)
    assert not p.needs_tick()


def test_old_windows_are_rolled_up_in_the_same_apply(r: Any) -> None:
    p = make(r, Clock())
    old = T0 - 3 * 3_600_000  # a backfilled trade of three hours ago
    p.process([Backfilled(SYM, (trade(0, old), trade(1, old + 70_000)))])
    assert_bars_match_stored_trades(r)
    assert r.hget(KS.state(SYM), "rollup") in (None, b"")


def test_a_crash_with_deltas_pending_is_recovered_from_redis(r: Any) -> None:
    clock = Clock()
    p = make(r, clock)
    p.process([trade(a, T0 + a * 7_000) for a in range(2)])  # rolled up once
    clock.mono = 0.5
    # pending in two minutes (T0 is 40 s into one), then "kill -9"
    p.process([trade(a, T0 + a * 7_000) for a in range(2, 12)])
    assert r.hget(KS.state(SYM), "rollup")
    assert (
        stored_bars(r, "1m")
        != bars_from_trades_reference([trade(a, T0 + a * 7_000) for a in range(12)])["1m"]
    )
    q = make(r, Clock())
    out = q.preload([SYM])
    assert out.counters["rollup_recovered"] == 2
    assert_bars_match_stored_trades(r)
    assert r.hget(KS.state(SYM), "rollup") == b""
    q.process([trade(12, T0 + 84_000)], flush=True)  # and it goes on from there
    assert_bars_match_stored_trades(r)


def test_a_second_writer_recovers_the_first_ones_deltas(r: Any) -> None:
    clock = Clock()
    a, b = make(r, clock), make(r, clock)
    a.process([trade(0, T0), trade(1, T0 + 1_000)])
    b.process([trade(2, T0 + 2_000)])  # loads: recovers a's marker first
    a.process([trade(3, T0 + 3_000)])  # a's revision is stale: conflict, reload
    clock.mono = 5.0
    a.process([], flush=True)
    b.process([], flush=True)
    assert_bars_match_stored_trades(r)


def test_flush_rolls_up_everything(r: Any) -> None:
    p = make(r, Clock(), rollup_s=3600.0)
    p.process([trade(0, T0)])  # rolled up (never was)
    p.process([trade(a, T0 + a * 20_000) for a in range(1, 5)])
    assert stored_bars(r, "1h")[T0 - T0 % 3_600_000].trades_count == 1
    p.process([], flush=True)
    assert_bars_match_stored_trades(r)


batches = st.lists(
    st.tuples(
        st.integers(1, 8),  # trades in the batch
        st.floats(0.0, 1.5),  # monotonic seconds before it
        st.booleans(),  # the writer dies after it
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=batches, jumps=st.lists(st.integers(-3_000, 40_000), min_size=100, max_size=100))
def test_any_sequence_of_batches_and_crashes_ends_with_exact_bars(
    r: Any, plan: list[tuple[int, float, bool]], jumps: list[int]
) -> None:
    r.flushall()
    clock = Clock()
    p = make(r, clock)
    a, t = 0, T0
    for n, dt, dies in plan:
        clock.mono += dt
        batch = []
        for _ in range(n):
            t = max(T0, t + jumps[a % len(jumps)])  # T may go backwards while ids rise
            batch.append(trade(a, t, price=f"{2000 + a % 7}.{a % 10}"))
            a += 1
        p.process(batch)
        if dies:
            p = make(r, clock)
    make(r, clock).preload([SYM])  # a fresh writer (a restart): recovers what is pending
    p.process([], flush=True)  # the last one: conflicts, reloads, rolls up (nothing)
    assert_bars_match_stored_trades(r)
