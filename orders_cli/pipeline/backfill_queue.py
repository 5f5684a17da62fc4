"""The backfill work queue: one REST call per work item, priority order (lower
``priority`` first, then the newest request), overlapping ranges of one symbol merged,
and at most one call in flight per symbol (the caller passes the busy symbols).

A known gap (0 fresh, 1 resumed, 2 asked again) comes before any speculative work (head
checks, then cold starts): work that may find nothing, or whose size is unknown. The
caller can hold head checks back (``head_checks=False``) so that cold starts, finite work
ranked after a periodic one, are never starved by it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Container

import attrs


@attrs.frozen(slots=True)
class RangeWork:
    """Fetch ids ``[first, last]`` (``last`` None = up to the head) with ``fromId`` pages.
    ``cold`` marks the tail of a cold start (its end is reported as ColdStartDone)."""

    symbol: str
    first: int
    last: int | None
    priority: int
    seq: int
    cold: bool = False
    attempts: int = 0
    empty_tries: int = 0
    not_before: float = 0.0


@attrs.frozen(slots=True)
class LocateWork:
    """Cold start: find the first trade at/after ``since_ms`` (the ``step``-th request of
    the planner), then continue as a cold ``RangeWork`` up to ``until_id - 1``."""

    symbol: str
    since_ms: int
    until_id: int | None
    priority: int
    seq: int
    step: int = 0
    attempts: int = 0
    not_before: float = 0.0


@attrs.frozen(slots=True)
class HeadWork:
    """Ask for the newest id of ``symbol`` (``limit=1``)."""

    symbol: str
    priority: int
    seq: int
    attempts: int = 0
    not_before: float = 0.0


Work = RangeWork | LocateWork | HeadWork


def is_speculative(work: Work) -> bool:
    """Not the fill of a known gap: a head check, or a cold start's locate or pages."""
    return not isinstance(work, RangeWork) or work.cold


def _end(last: int | None) -> float:
    return math.inf if last is None else float(last)


def _merge_ranges(a: RangeWork, b: RangeWork) -> RangeWork:
    last = None if a.last is None or b.last is None else max(a.last, b.last)
    return RangeWork(
        symbol=a.symbol,
        first=min(a.first, b.first),
        last=last,
        priority=min(a.priority, b.priority),
        seq=max(a.seq, b.seq),
        cold=a.cold or b.cold,
        not_before=min(a.not_before, b.not_before),
    )


def _touches(a: RangeWork, b: RangeWork) -> bool:
    """Overlapping or adjacent ranges."""
    return a.first <= _end(b.last) + 1 and b.first <= _end(a.last) + 1


class WorkQueue:
    def __init__(self) -> None:
        self._by_symbol: dict[str, list[Work]] = {}
        self._seq = 0
        self._size = 0
        # not_before of every item that entered delayed (a min-heap; an entry may outlive
        # its item: that only costs the dispatcher a spurious wake-up, never a missed one)
        self._delays: list[float] = []

    def __len__(self) -> int:
        return self._size

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def items(self, symbol: str) -> list[Work]:
        return list(self._by_symbol.get(symbol, ()))

    def push(self, work: Work) -> None:
        """Queue ``work``, merging it into queued work of the same symbol where it
        overlaps (ranges), or dropping it where it repeats (head checks, cold starts)."""
        items = self._by_symbol.setdefault(work.symbol, [])
        if isinstance(work, RangeWork):
            merged = work
            keep: list[Work] = []
            for item in items:
                if isinstance(item, RangeWork) and _touches(item, merged):
                    merged = _merge_ranges(item, merged)
                else:
                    keep.append(item)
            keep.append(merged)
            self._note(merged)
            self._set(work.symbol, keep)
            return
        for i, item in enumerate(items):
            if isinstance(work, HeadWork) and isinstance(item, HeadWork):
                items[i] = attrs.evolve(
                    item,
                    priority=min(item.priority, work.priority),
                    seq=max(item.seq, work.seq),
                    not_before=min(item.not_before, work.not_before),
                )
                self._note(items[i])
                return
            if isinstance(work, LocateWork) and isinstance(item, LocateWork):
                until = (
                    None
                    if item.until_id is None or work.until_id is None
                    else max(item.until_id, work.until_id)
                )
                items[i] = attrs.evolve(
                    item, since_ms=min(item.since_ms, work.since_ms), until_id=until
                )
                self._note(items[i])
                return
        items.append(work)
        self._note(work)
        self._size += 1

    def trim(self, symbol: str, lo: int, hi: int) -> None:
        """Ids ``[lo, hi]`` of ``symbol`` were just fetched (or found missing on the
        exchange): remove them from queued ranges."""
        items = self._by_symbol.get(symbol)
        if not items:
            return
        out: list[Work] = []
        for item in items:
            if not isinstance(item, RangeWork) or item.first > hi or _end(item.last) < lo:
                out.append(item)
                continue
            if item.first < lo:
                out.append(attrs.evolve(item, last=lo - 1))
            if _end(item.last) > hi:
                out.append(attrs.evolve(item, first=hi + 1))
        self._set(symbol, out)

    def pop_ready(
        self,
        now: float,
        busy: Container[str],
        *,
        speculative: bool = True,
        head_checks: bool = True,
    ) -> Work | None:
        """The best work whose time has come and whose symbol has no call in flight
        (only gap fills when not ``speculative``; no head check when not ``head_checks``)."""
        best: Work | None = None
        for symbol, items in self._by_symbol.items():
            if symbol in busy:
                continue
            for item in items:
                if item.not_before > now or (not speculative and is_speculative(item)):
                    continue
                if not head_checks and isinstance(item, HeadWork):
                    continue
                if best is None or (item.priority, -item.seq) < (best.priority, -best.seq):
                    best = item
        if best is not None:
            items = self._by_symbol[best.symbol]
            items.remove(best)
            self._size -= 1
            if not items:
                del self._by_symbol[best.symbol]
        return best

    def next_due(self, now: float) -> float:
        """The earliest ``not_before`` still in the future (inf when none); amortised
        O(log n): the dispatcher asks after every change, with thousands of gaps queued."""
        delays = self._delays
        while delays and delays[0] <= now:
            heapq.heappop(delays)  # due now or earlier: stays due (time only grows)
        return delays[0] if delays else math.inf

    def _note(self, item: Work) -> None:
        if item.not_before > 0:
            heapq.heappush(self._delays, item.not_before)

    def has_cold_range(self, symbol: str) -> bool:
        return any(isinstance(i, RangeWork) and i.cold for i in self._by_symbol.get(symbol, ()))

    def _set(self, symbol: str, items: list[Work]) -> None:
        self._size += len(items) - len(self._by_symbol.get(symbol, ()))
        if items:
            self._by_symbol[symbol] = items
        else:
            self._by_symbol.pop(symbol, None)
