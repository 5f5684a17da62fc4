"""Pure parts of the backfill: the work queue, hole arithmetic, the sweep cadence."""

from __future__ import annotations

import itertools
import math

import trio
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.messages import BackfillInput, HeadCheck
from orders_cli.pipeline.backfill import missing_ranges, sweep_interval, sweeper
from orders_cli.pipeline.backfill_queue import HeadWork, LocateWork, RangeWork, WorkQueue


def ranges(q: WorkQueue, symbol: str) -> list[tuple[int, int | None]]:
    return sorted((w.first, w.last) for w in q.items(symbol) if isinstance(w, RangeWork))


def test_overlapping_and_adjacent_ranges_merge() -> None:
    q = WorkQueue()
    q.push(RangeWork("A", 10, 20, priority=3, seq=q.next_seq()))
    q.push(RangeWork("A", 21, 30, priority=1, seq=q.next_seq()))  # adjacent
    q.push(RangeWork("A", 50, 60, priority=2, seq=q.next_seq()))  # apart
    q.push(RangeWork("B", 15, 25, priority=0, seq=q.next_seq()))  # other symbol
    assert ranges(q, "A") == [(10, 30), (50, 60)]
    merged = next(w for w in q.items("A") if isinstance(w, RangeWork) and w.first == 10)
    assert merged.priority == 1 and merged.seq == 2
    q.push(RangeWork("A", 25, None, priority=5, seq=q.next_seq()))  # open end swallows all
    assert ranges(q, "A") == [(10, None)]
    assert len(q) == 2


def test_repeated_head_checks_and_cold_starts_collapse() -> None:
    q = WorkQueue()
    q.push(HeadWork("A", 2, q.next_seq()))
    q.push(HeadWork("A", 0, q.next_seq()))
    q.push(LocateWork("A", 2000, 50, 5, q.next_seq()))
    q.push(LocateWork("A", 1000, None, 5, q.next_seq()))
    assert len(q) == 2
    head = next(w for w in q.items("A") if isinstance(w, HeadWork))
    assert head.priority == 0
    locate = next(w for w in q.items("A") if isinstance(w, LocateWork))
    assert (locate.since_ms, locate.until_id) == (1000, None)


def test_trim_removes_fetched_ids() -> None:
    q = WorkQueue()
    q.push(RangeWork("A", 0, 100, 0, q.next_seq()))
    q.push(RangeWork("A", 200, None, 0, q.next_seq()))
    q.trim("A", 40, 60)
    assert ranges(q, "A") == [(0, 39), (61, 100), (200, None)]
    q.trim("A", 0, 250)
    assert ranges(q, "A") == [(251, None)]
    assert len(q) == 1


def test_pop_order_busy_symbols_and_backoff() -> None:
    q = WorkQueue()
    q.push(RangeWork("A", 0, 1, 1, q.next_seq()))
    q.push(RangeWork("B", 0, 1, 0, q.next_seq()))
    q.push(RangeWork("C", 0, 1, 0, q.next_seq(), not_before=50.0))
    q.push(RangeWork("D", 0, 1, 0, q.next_seq()))
    popped = q.pop_ready(0.0, busy={"D"})
    assert popped is not None and popped.symbol == "B"  # D busy, C not due yet
    assert q.next_due(0.0) == 50.0
    popped = q.pop_ready(60.0, busy=set())
    assert popped is not None and popped.symbol == "D"  # newest of priority 0
    assert [q.pop_ready(60.0, set()) for _ in range(3)][-1] is None
    assert q.next_due(60.0) == math.inf and len(q) == 0


def brute_missing(lo: int, hi: int, ids: set[int]) -> set[int]:
    return {i for i in range(lo, hi + 1) if i not in ids}


@given(
    st.integers(0, 50),
    st.integers(0, 60),
    st.sets(st.integers(-5, 70), max_size=40),
)
def test_missing_ranges_matches_brute_force(lo: int, span: int, ids: set[int]) -> None:
    hi = lo + span
    got = missing_ranges(lo, hi, sorted(ids))
    flat = [i for a, b in got for i in range(a, b + 1)]
    assert len(flat) == len(set(flat))  # each missing id reported once
    assert set(flat) == brute_missing(lo, hi, ids)
    assert all(a <= b for a, b in got)
    assert all(b1 + 1 < a2 for (_, b1), (a2, _) in itertools.pairwise(got))


def test_sweep_interval_from_the_budget() -> None:
    # 1,500 spot symbols x 4 = 6,000 weight; 25 % of 0.8 x 6,000/min = 1,200/min -> 5 min
    assert sweep_interval(1500, 6000, 0.8) == 300.0
    assert sweep_interval(1500, 6000, 0.8, head_weight=2) == 150.0
    assert sweep_interval(300, 2400, 0.8, head_weight=20) == 60 * 6000 / 480
    assert sweep_interval(3, 6000, 0.8) == 10.0  # floor


async def test_sweeper_covers_every_symbol_within_the_share(
    autojump_clock: trio.testing.MockClock,
) -> None:
    symbols = [f"S{i}" for i in range(1500)]
    send, recv = trio.open_memory_channel[BackfillInput](1)
    seen: list[tuple[float, HeadCheck]] = []
    start = trio.current_time()
    with trio.move_on_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: sweeper(
                    lambda: symbols,
                    send,
                    weight_limit=6000,
                    target_fraction=0.8,
                    task_status=task_status,
                )
            )
            async for msg in recv:
                assert isinstance(msg, HeadCheck)
                seen.append((trio.current_time() - start, msg))
    first_sweep = [s for t, m in seen if t < 300 for s in m.symbols]
    assert sorted(first_sweep) == sorted(symbols)  # all of them, once, in one interval
    assert max(len(m.symbols) for _, m in seen) == 50
    for minute in range(10):
        weight = 4 * sum(len(m.symbols) for t, m in seen if minute * 60 <= t < minute * 60 + 60)
        assert weight <= 0.25 * 0.8 * 6000


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.integers(0, 40),  # first id
            st.integers(0, 10),  # length
            st.sampled_from([0.0, 1.0, 2.5, 4.0, 7.0]),  # not_before
            st.booleans(),  # head check instead of a range
            st.floats(0.0, 3.0),  # time passing before it
        ),
        max_size=40,
    )
)
def test_next_due_is_never_later_than_the_earliest_delayed_item(
    ops: list[tuple[str, int, int, float, bool, float]],
) -> None:
    """The dispatcher sleeps until next_due: waking early is harmless, waking late
    would stall delayed work."""
    q, now = WorkQueue(), 0.0
    for symbol, first, length, not_before, head, dt in ops:
        now += dt
        if head:
            q.push(HeadWork(symbol, 5, q.next_seq(), not_before=not_before))
        else:
            q.push(RangeWork(symbol, first, first + length, 2, q.next_seq(), not_before=not_before))
        if first % 3 == 0:
            q.trim(symbol, first, first + 2)
        if first % 4 == 0:
            q.pop_ready(now, ())
        truth = min(
            (w.not_before for s in "ABC" for w in q.items(s) if w.not_before > now),
            default=math.inf,
        )
        due = q.next_due(now)
        assert now < due <= truth
