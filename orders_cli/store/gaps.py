"""Open gaps of one symbol: a sorted list of disjoint ``Gap`` ranges, and the pure
operations the writer needs (fill one id, open, mark exchange-side, trim a cold gap).
Serialized in the state hash as JSON ``[[first, last, opened_ms, exchange_side, cold], ...]``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

import attrs
import orjson

from orders_cli.models import Gap


def encode_gaps(gaps: Iterable[Gap]) -> bytes:
    return orjson.dumps([[g.first, g.last, g.opened_ms, g.exchange_side, g.cold] for g in gaps])


def decode_gaps(raw: bytes | str | None) -> list[Gap]:
    if not raw:
        return []
    out = []
    for item in orjson.loads(raw):
        first, last, opened = int(item[0]), int(item[1]), int(item[2])
        exch = bool(item[3]) if len(item) > 3 else False
        cold = bool(item[4]) if len(item) > 4 else False
        out.append(Gap(first, last, opened, exch, cold))
    out.sort(key=lambda g: g.first)
    return out


def _first(g: Gap) -> int:
    return g.first


def find(gaps: list[Gap], agg_id: int) -> int | None:
    """Index of the gap containing ``agg_id``, or None."""
    i = bisect.bisect_right(gaps, agg_id, key=_first) - 1
    if i >= 0 and gaps[i].first <= agg_id <= gaps[i].last:
        return i
    return None


def fill(gaps: list[Gap], index: int, agg_id: int) -> None:
    """Remove ``agg_id`` from ``gaps[index]`` (splitting it when in the middle)."""
    g = gaps[index]
    pieces = []
    if g.first <= agg_id - 1:
        pieces.append(Gap(g.first, agg_id - 1, g.opened_ms, g.exchange_side, g.cold))
    if agg_id + 1 <= g.last:
        pieces.append(Gap(agg_id + 1, g.last, g.opened_ms, g.exchange_side, g.cold))
    gaps[index : index + 1] = pieces


def _plain(g: Gap) -> bool:
    return not (g.exchange_side or g.cold)


def open_gap(gaps: list[Gap], gap: Gap) -> None:
    """Insert a new gap, merged with a plain neighbour it touches or overlaps (a second
    ``Dropped`` of one overload episode, or an episode right after a gap: one record,
    asked and filled as one range; the merged record keeps the older ``opened_ms``)."""
    i = bisect.bisect_left(gaps, gap.first, key=_first)
    if _plain(gap) and i > 0 and _plain(gaps[i - 1]) and gaps[i - 1].last + 1 >= gap.first:
        i -= 1
        prev = gaps[i]
        gap = Gap(prev.first, max(prev.last, gap.last), min(prev.opened_ms, gap.opened_ms))
        del gaps[i]
    while i < len(gaps) and _plain(gap) and _plain(gaps[i]) and gaps[i].first <= gap.last + 1:
        nxt = gaps.pop(i)
        gap = Gap(gap.first, max(gap.last, nxt.last), min(gap.opened_ms, nxt.opened_ms))
    gaps.insert(i, gap)


def mark_exchange_side(gaps: list[Gap], first: int, last: int) -> int:
    """Mark the ids ``[first, last]`` of open gaps as exchange-side holes. Returns how
    many ids changed status."""
    out: list[Gap] = []
    changed = 0
    for g in gaps:
        lo, hi = max(g.first, first), min(g.last, last)
        if g.exchange_side or lo > hi:
            out.append(g)
            continue
        if g.first < lo:
            out.append(attrs.evolve(g, last=lo - 1))
        out.append(attrs.evolve(g, first=lo, last=hi, exchange_side=True, cold=False))
        changed += hi - lo + 1
        if hi < g.last:
            out.append(attrs.evolve(g, first=hi + 1))
    gaps[:] = out
    return changed


def trim_cold(gaps: list[Gap], first_kept: int | None) -> bool:
    """A cold-start backfill found its first trade at ``first_kept`` (None: nothing in
    the retention window): cold-gap ids below it are out of retention, not missing.
    Returns whether anything changed."""
    out: list[Gap] = []
    for g in gaps:
        if not g.cold:
            out.append(g)
        elif first_kept is not None and g.last >= first_kept:
            out.append(attrs.evolve(g, first=max(g.first, first_kept)))
    changed = out != gaps
    gaps[:] = out
    return changed


def closed_and_marked(before: Sequence[Gap], after: Sequence[Gap]) -> tuple[int, int]:
    """What one apply did to a symbol's gaps (both lists sorted, disjoint): how many of the
    gaps open ``before`` have no id left open ``after`` (filled), and how many more
    exchange-side records there are (holes the exchange does not have). Cold-start gaps
    (the history a first sight backfills) are not counted, as they are not when opened."""
    firsts = [g.first for g in after]
    filled = 0
    for g in before:
        if g.exchange_side or g.cold:
            continue
        j = bisect.bisect_right(firsts, g.last) - 1  # the last gap starting at or below g.last
        if j < 0 or after[j].last < g.first:
            filled += 1
    marked = sum(g.exchange_side for g in after) - sum(g.exchange_side for g in before)
    return filled, max(0, marked)


def missing(gaps: Iterable[Gap]) -> int:
    """Ids still expected from the exchange (exchange-side holes excluded)."""
    return sum(g.size for g in gaps if not g.exchange_side)
