"""Following ``trades:{S}:stream`` (``orders tail``): a window's history and
its live part with nothing lost or repeated between them, and the ``--stats`` view (current
100 ms window + latest 1m bar). Sync; run in a trio thread."""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

import attrs
import orjson

from orders_cli.models import Trade
from orders_cli.ops.nodes import slot_transaction, xread_streams
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member, decode_stream_fields
from orders_cli.store.query import Entry, read_current, stored_trades, stream_entries

if TYPE_CHECKING:
    from redis.client import Pipeline


@attrs.frozen(slots=True)
class Tailed:
    """One trade to show. ``late``: an id below one already shown for its symbol (a gap
    the ingester filled after the trades above it were stored)."""

    trade: Trade
    late: bool


@attrs.frozen(slots=True)
class Seam:
    """Where one symbol's history ends and its live part begins: the stream's top entry
    when following started (None: an empty stream). The history holds the trades stored
    up to it with ``trade_time >= floor_ms``; after it, a trade is also in the window when
    its id is above ``floor_id``, the newest trade stored then (a live trade whose time
    steps back is shown; a backfill of older ids is not, unless inside the window)."""

    stream_id: str | None
    floor_ms: int
    floor_id: int

    def admits(self, t: Trade) -> bool:
        return t.trade_time >= self.floor_ms or t.agg_id > self.floor_id


@attrs.define
class ShownIds:
    """Ids shown from the ZSET, as closed ranges in ascending order: one range per hole,
    so a few even for a day of trades."""

    lo: list[int] = attrs.field(factory=list)
    hi: list[int] = attrs.field(factory=list)

    def add(self, agg_id: int) -> None:
        i = bisect.bisect_right(self.lo, agg_id)  # ranges 0..i-1 start at or below it
        if i and agg_id <= self.hi[i - 1] + 1:
            self.hi[i - 1] = max(self.hi[i - 1], agg_id)
        elif i < len(self.lo) and agg_id == self.lo[i] - 1:
            self.lo[i] = agg_id
        else:
            self.lo.insert(i, agg_id)
            self.hi.insert(i, agg_id)
            return
        j = i - 1 if i and self.hi[i - 1] >= agg_id else i
        if j + 1 < len(self.lo) and self.hi[j] + 1 >= self.lo[j + 1]:  # two ranges meet
            self.hi[j] = self.hi.pop(j + 1)
            self.lo.pop(j + 1)

    def __contains__(self, agg_id: int) -> bool:
        i = bisect.bisect_right(self.lo, agg_id) - 1
        return i >= 0 and agg_id <= self.hi[i]


def _tops(pipe: Pipeline, stream: str, latest: str) -> None:
    """The stream's top entry and the ZSET's newest member."""
    pipe.xrevrange(stream, count=1)
    pipe.zrevrangebyscore(latest, "+inf", "-inf", start=0, num=1)


def _by_time(parts: Iterable[Iterable[Trade]]) -> Iterator[Trade]:
    """Several symbols' trades interleaved by trade time; each symbol's own order kept."""
    return heapq.merge(*parts, key=lambda t: t.trade_time)


@attrs.define
class Follower:
    """Every stored trade of a window once, per symbol in the order the ingester stored it
    (id order; a filled gap comes when it was filled, marked late), several symbols
    interleaved by trade time.

    The window starts at ``since_ms`` (``--since``), else at the newest trade stored when
    following started. :meth:`history` reads each stream up to its :class:`Seam`,
    :meth:`read` goes on from there: the seam is one stream entry id, so nothing is shown
    twice or skipped. The stream keeps less than the ZSET (``--stream-retention``): the
    window's trades up to the time of the stream's oldest entry come from the ``latest``
    ZSET, in id order, and every stream entry whose id the ZSET showed (there, or a gap
    filled late) is skipped, in the history and live alike."""

    keyspace: Keyspace
    seams: dict[str, Seam]  # symbol -> seam
    symbol_of: dict[str, str]  # stream key -> symbol
    cursors: dict[str, str]  # stream key -> the last entry id read
    since_ms: int | None
    newest: list[Trade]  # each symbol's top stream entry when following started
    shown_max: dict[str, int] = attrs.field(factory=dict)  # symbol -> highest id shown
    from_zset: dict[str, ShownIds] = attrs.field(factory=dict)  # symbol -> ids the ZSET showed

    @classmethod
    def start(
        cls, r: RedisClient, keyspace: Keyspace, symbols: list[str], since_ms: int | None
    ) -> Follower:
        seams: dict[str, Seam] = {}
        symbol_of: dict[str, str] = {}
        cursors: dict[str, str] = {}
        newest: list[Trade] = []
        for s in symbols:
            key = keyspace.trades_stream(s)
            tops = functools.partial(_tops, stream=key, latest=keyspace.trades_latest(s))
            top, newest_member = cast(  # one symbol's keys share a slot
                tuple[list[Entry], list[bytes]], slot_transaction(r, key, tops)
            )
            top_id = top[0][0].decode() if top else None
            stored = [decode_stream_fields(s, fields) for _, fields in top]
            stored += [decode_member(m) for m in newest_member]
            floor_id = max((t.agg_id for t in stored), default=-1)
            if since_ms is not None:
                floor_ms = since_ms
            else:  # an entry's id ms is max(T, previous id ms): the newest trade time stored
                floor_ms = int(top_id.split("-")[0]) if top_id else 0
            seams[s] = Seam(top_id, floor_ms, floor_id)
            symbol_of[key] = s
            cursors[key] = top_id or "0-0"
            newest += stored[:1]
        return cls(keyspace, seams, symbol_of, cursors, since_ms, newest)

    def _mark(self, t: Trade) -> Tailed:
        top = self.shown_max.get(t.symbol, -1)
        if t.agg_id > top:
            self.shown_max[t.symbol] = t.agg_id
        return Tailed(t, late=t.agg_id < top)

    def _stream_until_seam(
        self, r: RedisClient, symbol: str, page: int
    ) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
        seam = self.seams[symbol]
        if seam.stream_id is None:
            return
        key = self.keyspace.trades_stream(symbol)
        lo = f"{max(seam.floor_ms, 0)}-0"  # an entry's id ms is never below its trade time
        yield from stream_entries(r, key, lo, seam.stream_id, chunk=page)

    def _stored_until_seam(self, r: RedisClient, symbol: str, page: int) -> Iterator[Trade]:
        seam = self.seams[symbol]
        spans = self.from_zset.setdefault(symbol, ShownIds())
        entries = self._stream_until_seam(r, symbol, page)
        first = next(entries, None)  # read before the ZSET: a trim can only cut later ones
        # what the stream no longer holds had entry ids below its oldest one, so trade times
        # up to that id's ms; the ZSET shows those (in id order), the stream the rest
        hi_ms = int(first[0].split(b"-")[0]) if first else None
        for t in stored_trades(r, self.keyspace, symbol, seam.floor_ms, hi_ms):
            if t.agg_id <= seam.floor_id:  # above it: stored after the seam, comes live
                spans.add(t.agg_id)
                yield t
        for _, fields in itertools.chain([first] if first else [], entries):
            t = decode_stream_fields(symbol, fields)
            if t.trade_time >= seam.floor_ms and t.agg_id not in spans:
                yield t

    def history(self, r: RedisClient, page: int = 1000) -> Iterator[Tailed]:
        """The window's trades stored before following started (none without ``since``),
        read a page at a time."""
        if self.since_ms is None:
            return
        parts = [self._stored_until_seam(r, s, page) for s in self.seams]
        for t in _by_time(parts):
            yield self._mark(t)

    def read(self, r: RedisClient, block_ms: int, count: int = 1000) -> list[Tailed]:
        """One XREAD BLOCK over every stream from the cursors on (on a cluster, one per
        slot: :func:`xread_streams`); advances them; [] after ``block_ms`` (> 0) without
        a new entry."""
        parts: list[list[Trade]] = []
        for raw_key, entries in xread_streams(r, self.cursors, count, block_ms):
            key = raw_key.decode()
            symbol = self.symbol_of[key]
            seam = self.seams[symbol]
            spans = self.from_zset.get(symbol, ShownIds())
            part = [decode_stream_fields(symbol, fields) for _, fields in entries]
            parts.append([t for t in part if seam.admits(t) and t.agg_id not in spans])
            if entries:
                self.cursors[key] = entries[-1][0].decode()
        return [self._mark(t) for t in _by_time(parts)]


def stats_view(r: RedisClient, keyspace: Keyspace, symbol: str) -> dict[str, Any]:
    """``{"symbol", "current": {...}, "bar_1m": {...} | None}``: decimals as strings,
    counts, ids and times as numbers."""
    current = read_current(r, keyspace, symbol)
    last = cast(list[bytes], r.zrange(keyspace.bars(symbol, "1m"), -1, -1))
    bar = orjson.loads(last[0]) if last else None
    return {"symbol": symbol, "current": current, "bar_1m": bar}
