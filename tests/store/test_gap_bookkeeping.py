"""Gap bookkeeping under overload: touching ranges merge into one record, and an apply
that changes no gap costs nothing per open gap (no copy, no JSON encode)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.messages import Backfilled, Dropped, ExchangeHole
from orders_cli.models import Gap, Trade
from orders_cli.store import gaps as gapops
from orders_cli.store import planner
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import Plan, PlanConfig, SymbolState
from orders_cli.store.processor import Processor

KS = Keyspace()
T0 = 1_700_000_000_000
CFG = PlanConfig(first_agg_id=0, cold_start=False, reorder_s=0.25, first_sight_hold=False)


def trade(a: int, sym: str = "BTCUSDT") -> Trade:
    return Trade(sym, a, "1.0", "1.0", a, a, T0 + a, False, T0 + a)


def test_a_gap_touching_the_previous_one_extends_it_instead_of_adding_a_record() -> None:
    gaps = [Gap(10, 19, 5)]
    gapops.open_gap(gaps, Gap(20, 29, 7))
    assert gaps == [Gap(10, 29, 5)]
    gapops.open_gap(gaps, Gap(31, 40, 9))  # id 30 is not missing: a record of its own
    assert gaps == [Gap(10, 29, 5), Gap(31, 40, 9)]


def test_an_exchange_side_or_cold_gap_is_never_merged_with_a_plain_one() -> None:
    gaps = [Gap(0, 9, 1, cold=True), Gap(10, 19, 1, exchange_side=True)]
    gapops.open_gap(gaps, Gap(20, 29, 2))
    assert len(gaps) == 3


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8)), max_size=12))
def test_opening_any_ranges_keeps_one_record_per_run_of_missing_ids(
    opens: list[tuple[int, int]],
) -> None:
    gaps: list[Gap] = []
    missing: set[int] = set()
    for first, size in opens:
        gapops.open_gap(gaps, Gap(first, first + size, first))
        missing |= set(range(first, first + size + 1))
    assert {i for g in gaps for i in range(g.first, g.last + 1)} == missing
    assert all(a.last + 1 < b.first for a, b in itertools.pairwise(gaps))  # not even touching


def test_two_drop_reports_of_one_range_record_one_gap() -> None:
    state = SymbolState("BTCUSDT", revision=1, watermark=100)
    plan = Plan.start(state)
    planner.expect_upto(plan, 150, T0, CFG)
    planner.expect_upto(plan, 180, T0 + 1, CFG)
    assert plan.gaps == [Gap(101, 180, T0)]
    assert [(g.first, g.last) for g in plan.opened] == [(101, 150), (151, 180)]


def test_planning_a_live_trade_neither_copies_nor_changes_many_open_gaps() -> None:
    gaps = [Gap(i * 10, i * 10 + 4, T0) for i in range(10_000)]
    state = SymbolState("BTCUSDT", revision=3, watermark=200_000, gaps=gaps)
    plan = Plan.start(state)
    planner.classify(plan, trade(200_001), live=True, now_ms=T0, now=0.0, cfg=CFG)
    assert plan.gaps is state.gaps and not plan.gaps_changed
    planner.classify(plan, trade(12), live=False, now_ms=T0, now=0.0, cfg=CFG)  # a fill
    assert plan.gaps_changed and plan.gaps is not state.gaps
    assert len(state.gaps) == 10_000 and state.gaps[1] == Gap(10, 14, T0)  # committed: untouched


@pytest.fixture
def r(redis_shared: Any) -> Any:
    return redis_shared.client()


def test_applies_that_change_no_gap_do_not_encode_the_gap_list(
    r: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = Processor(r, KS, CFG, clock_ms=lambda: T0, monotonic=lambda: 0.0)
    proc.process([trade(0)])
    for top in range(10, 2010, 10):  # 200 drop reports: gaps of 9 ids each
        proc.process([Dropped("BTCUSDT", top - 1, 9), trade(top)])
    assert proc.open_gaps() == (200 * 9, T0) and proc.most_gaps_per_symbol() == 200
    encoded: list[int] = []
    real = gapops.encode_gaps

    def counting(gaps: list[Gap]) -> bytes:
        encoded.append(len(gaps))
        return real(gaps)

    monkeypatch.setattr(gapops, "encode_gaps", counting)
    for a in range(2001, 2101):
        proc.process([trade(a)])
    assert encoded == []
    proc.process([trade(5)])  # a late trade fills one id: the list changes, encoded once
    assert encoded == [201]
    assert proc.open_gaps() == (200 * 9 - 1, T0) and proc.most_gaps_per_symbol() == 201


def test_a_gap_filled_whole_or_found_exchange_side_is_counted_once(r: Any) -> None:
    proc = Processor(r, KS, CFG, clock_ms=lambda: T0, monotonic=lambda: 0.0)
    proc.process([trade(0)])
    out = proc.process([Dropped("BTCUSDT", 9, 9), trade(10), Dropped("BTCUSDT", 19, 9)])
    out2 = proc.process([trade(20)])
    assert out.counters["gaps_opened"] + out2.counters["gaps_opened"] == 2
    half = proc.process([Backfilled("BTCUSDT", tuple(trade(a) for a in range(1, 5)))])
    assert half.counters["gaps_filled"] == 0  # 5..9 still missing
    rest = proc.process([Backfilled("BTCUSDT", tuple(trade(a) for a in range(5, 10)))])
    assert rest.counters["gaps_filled"] == 1
    side = proc.process([ExchangeHole("BTCUSDT", 11, 19)])
    assert side.counters["gaps_exchange_side"] == 1 and side.counters["gaps_filled"] == 0
    assert proc.open_gaps()[0] == 0


def test_a_cold_start_gap_filled_is_not_counted_as_it_is_not_counted_opened() -> None:
    before = [Gap(0, 9, T0, cold=True), Gap(20, 29, T0)]
    assert gapops.closed_and_marked(before, []) == (1, 0)
    assert gapops.closed_and_marked(before, [Gap(25, 29, T0)]) == (0, 0)
    assert gapops.closed_and_marked(before, [Gap(20, 29, T0, exchange_side=True)]) == (0, 1)
