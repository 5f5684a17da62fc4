"""Pure id arithmetic for ``orders verify``: ranges, holes, duplicates, stream vs ZSET, and
splitting holes by what a REST page holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import attrs


@attrs.frozen(slots=True, order=True)
class IdRange:
    """Aggregate ids ``first..last`` inclusive."""

    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def as_list(self) -> list[int]:
        return [self.first, self.last]


def to_ranges(ids: Iterable[int]) -> list[IdRange]:
    """Contiguous ranges of the distinct ``ids``, ascending."""
    out: list[IdRange] = []
    first = last = None
    for a in sorted(set(ids)):
        if last is not None and a == last + 1:
            last = a
            continue
        if first is not None and last is not None:
            out.append(IdRange(first, last))
        first = last = a
    if first is not None and last is not None:
        out.append(IdRange(first, last))
    return out


def total(ranges: Iterable[IdRange]) -> int:
    return sum(r.size for r in ranges)


def holes_between(ids_sorted: Sequence[int]) -> list[IdRange]:
    """Ids missing between consecutive distinct sorted ids (never below the first one)."""
    out: list[IdRange] = []
    prev: int | None = None
    for a in ids_sorted:
        if prev is not None and a > prev + 1:
            out.append(IdRange(prev + 1, a - 1))
        if prev is None or a > prev:
            prev = a
    return out


def duplicates(ids: Iterable[int]) -> dict[int, int]:
    """``{id: times stored}`` for ids stored more than once."""
    return {a: n for a, n in Counter(ids).items() if n > 1}


def clip(ranges: Iterable[IdRange], lo: int | None, hi: int | None) -> list[IdRange]:
    """The parts of ``ranges`` inside ``[lo, hi]`` (None = unbounded)."""
    out: list[IdRange] = []
    for r in ranges:
        first = r.first if lo is None else max(r.first, lo)
        last = r.last if hi is None else min(r.last, hi)
        if first <= last:
            out.append(IdRange(first, last))
    return out


def subtract(ranges: Iterable[IdRange], minus: Sequence[IdRange]) -> list[IdRange]:
    """``ranges`` without any id covered by ``minus`` (both ascending, disjoint)."""
    out: list[IdRange] = []
    for r in ranges:
        pieces = [r]
        for m in minus:
            nxt: list[IdRange] = []
            for p in pieces:
                if m.last < p.first or m.first > p.last:
                    nxt.append(p)
                    continue
                if p.first < m.first:
                    nxt.append(IdRange(p.first, m.first - 1))
                if m.last < p.last:
                    nxt.append(IdRange(m.last + 1, p.last))
            pieces = nxt
        out.extend(pieces)
    return out


@attrs.define
class HoleSplit:
    """Holes split by the exchange's answer: ``missing`` (REST has them, we do not),
    ``exchange_side`` (REST lacks them too)."""

    missing: list[IdRange] = attrs.field(factory=list)
    exchange_side: list[IdRange] = attrs.field(factory=list)

    def add(self, holes: Sequence[IdRange], upto: int, rest_ids: Iterable[int]) -> None:
        """Classify the ids of ``holes`` up to ``upto`` (inclusive): those in ``rest_ids``
        are missing, the others exchange-side."""
        have = set(rest_ids)
        for h in clip(holes, None, upto):
            got = [a for a in have if h.first <= a <= h.last]
            got_ranges = to_ranges(got)
            self.missing.extend(got_ranges)
            self.exchange_side.extend(subtract([h], got_ranges))

    def normalized(self) -> HoleSplit:
        return HoleSplit(to_ranges_merge(self.missing), to_ranges_merge(self.exchange_side))


def to_ranges_merge(ranges: Iterable[IdRange]) -> list[IdRange]:
    """Sort and merge touching/overlapping ranges."""
    out: list[IdRange] = []
    for r in sorted(ranges):
        if out and r.first <= out[-1].last + 1:
            if r.last > out[-1].last:
                out[-1] = IdRange(out[-1].first, r.last)
        else:
            out.append(r)
    return out


def remaining_after(holes: Sequence[IdRange], after: int) -> list[IdRange]:
    """The parts of ``holes`` strictly above ``after``."""
    return clip(holes, after + 1, None)


def intersect(ranges: Iterable[IdRange], other: Sequence[IdRange]) -> list[IdRange]:
    """The ids of ``ranges`` also covered by ``other`` (both ascending, disjoint)."""
    ranges = list(ranges)
    return subtract(ranges, subtract(ranges, other))


def split_in_flight(
    missing: Sequence[IdRange], young: Iterable[int], newest: int | None
) -> tuple[list[IdRange], list[IdRange]]:
    """``(still missing, in flight)``. ``young``: ids whose REST trade is younger than
    the grace. Above ``newest`` (our newest stored id; None: nothing stored) each young
    id is in flight; below it a missing range is in flight only if all its ids are."""
    young_r = to_ranges(young)
    if newest is None:
        low, high = [], list(missing)
    else:
        low, high = clip(missing, None, newest), clip(missing, newest + 1, None)
    flight = intersect(high, young_r) + [r for r in low if not subtract([r], young_r)]
    flight = to_ranges_merge(flight)
    return subtract(missing, flight), flight


def older_than(
    holes: Sequence[IdRange], times: dict[int, int], edge_ms: int
) -> tuple[list[IdRange], list[IdRange]]:
    """``(older, others)``: a hole is older than ``edge_ms`` when the stored trade just
    above it (``times``: id -> trade time) is; ``T`` is not strictly ordered by id, but a
    trade after the hole that is already older than the edge puts the hole there too."""
    older: list[IdRange] = []
    others: list[IdRange] = []
    for h in holes:
        above = times.get(h.last + 1)
        (older if above is not None and above < edge_ms else others).append(h)
    return older, others


def missing_window(exchange_first: int | None, stored_first: int | None) -> IdRange | None:
    """The ids the exchange has in the window before our first stored one (None: none)."""
    if exchange_first is None or stored_first is None or exchange_first >= stored_first:
        return None
    return IdRange(exchange_first, stored_first - 1)
