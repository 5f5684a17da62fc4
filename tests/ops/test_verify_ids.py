"""Pure parts of `orders verify`: id ranges, holes, the REST split, the rich rendering."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from orders_cli.cli.render_verify import render
from orders_cli.ops.verify_bars import BarProblem
from orders_cli.ops.verify_ids import (
    HoleSplit,
    IdRange,
    holes_between,
    split_in_flight,
    subtract,
    to_ranges,
    total,
)
from orders_cli.ops.verify_report import SymbolReport, VerifyReport

ids_st = st.sets(st.integers(min_value=0, max_value=300), max_size=80)


def _ids(ranges: list[IdRange]) -> set[int]:
    return {a for r in ranges for a in range(r.first, r.last + 1)}


@given(ids_st)
def test_holes_are_exactly_the_ids_between_first_and_last(ids: set[int]) -> None:
    s = sorted(ids)
    holes = holes_between(s)
    want = set(range(s[0], s[-1] + 1)) - ids if s else set()
    assert _ids(holes) == want
    assert to_ranges(ids) == sorted(to_ranges(ids)) and _ids(to_ranges(ids)) == ids


@given(ids_st, ids_st)
def test_subtract(a: set[int], b: set[int]) -> None:
    assert _ids(subtract(to_ranges(a), to_ranges(b))) == a - b


@given(ids_st, ids_st, st.integers(min_value=0, max_value=300))
def test_split_by_rest_page(hole_ids: set[int], rest_ids: set[int], upto: int) -> None:
    split = HoleSplit()
    split.add(to_ranges(hole_ids), upto, rest_ids)
    split = split.normalized()
    inside = {a for a in hole_ids if a <= upto}
    assert _ids(split.missing) == inside & rest_ids
    assert _ids(split.exchange_side) == inside - rest_ids


@given(ids_st, ids_st, st.none() | st.integers(min_value=0, max_value=300))
def test_split_in_flight(missing_ids: set[int], young: set[int], newest: int | None) -> None:
    missing = to_ranges(missing_ids)
    still, flight = split_in_flight(missing, young, newest)
    assert _ids(still) | _ids(flight) == missing_ids and not _ids(still) & _ids(flight)
    assert _ids(flight) <= young
    top = -1 if newest is None else newest
    # above our newest stored id: each id by its own time
    assert {a for a in _ids(flight) if a > top} == {a for a in missing_ids & young if a > top}
    # below it: a whole missing range, only when all of it is young
    for r in missing:
        low = {a for a in _ids([r]) if a <= top}
        assert low <= _ids(flight) if low <= young else not low & _ids(flight)


def test_problems_count_and_render() -> None:
    ok = SymbolReport("OKUSDT", stored=10, first_id=1, last_id=10, rest_head=10)
    ok.exchange_side = [IdRange(3, 4)]
    ok.in_flight = 7
    bad = SymbolReport("BADUSDT", stored=5, first_id=1, last_id=7)
    bad.missing = [IdRange(2, 3)]
    bad.duplicates = {5: 2}
    bad.bar_problems = [BarProblem("trades", "1m", 60_000, "volume: expected 1, stored 2")]
    assert ok.problems == 0 and total(ok.exchange_side) == 2
    assert bad.problems == 2 + 1 + 1
    report = VerifyReport(since_ms=0, symbols=[ok, bad])
    assert not report.clean and report.summary()["exchange_side"] == 2
    console = Console(record=True, width=200)
    console.print(render(report))
    text = console.export_text()
    assert "PROBLEM" in text and "2: 2-3" in text and "volume: expected 1" in text
    assert "problems in 1 symbol(s)" in text
    assert "7 in flight (neither is a problem)" in text and report.summary()["in_flight"] == 7
