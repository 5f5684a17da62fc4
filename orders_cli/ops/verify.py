"""``orders verify``: prove no trade is missing (and, on request, that bars are right).

Per symbol, inside ``--since``:

1. REST head (``aggTrades?limit=1``): ids above our newest stored one are holes.
   Unknown symbols (not in ``Keyspace.symbols()``) are a usage error before any call.
2. Stored ids (``trades:{S}:latest``): holes between consecutive ids and duplicates.
   Ids are read from a margin below the window so a trade whose time is a little out of
   id order does not look missing. The lower edge: one REST call (``startTime`` = the
   window start as of reading Redis) says whether the exchange has trades in the window
   before our first stored one (a cold start that lost its history); that *missing
   window* is reported, and paged and filled only with ``repair``.
3. The stream (``trades:{S}:stream``) must hold the same ids, once each.
4. Every hole is paged from REST (``fromId``): ids REST has are *missing*; ids REST lacks
   too are *exchange-side* (reported apart, not a problem). On a market whose REST keeps
   only a few hours (``Source.rest_history_ms``: futures), a hole whose next stored trade
   is older than that is exchange-side without a call: *unrecoverable (outside Binance's
   N h REST window)*. Missing ids whose REST trade
   is younger than ``grace`` (at the time Redis was read) are *in flight* to Redis (a
   running ingester): above our newest id each such id, below it a whole missing range
   only when all its ids are. Counted apart, not a problem, not repaired.
5. ``repair``: the missing trades go through the writer (``Processor`` + ``Backfilled``).
6. ``bars`` / ``klines``: see :mod:`orders_cli.ops.verify_bars`.

Redis calls run in worker threads; REST through :class:`RestClient` (weight budget).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

import attrs
import orjson
import trio

from orders_cli.clock import now_ms
from orders_cli.errors import ExchangeRejected, orders_error_in
from orders_cli.models import Trade
from orders_cli.ops import verify_bars as vb
from orders_cli.ops import verify_redis as vr
from orders_cli.ops.verify_ids import (
    HoleSplit,
    IdRange,
    duplicates,
    holes_between,
    missing_window,
    older_than,
    remaining_after,
    split_in_flight,
    to_ranges,
    to_ranges_merge,
    total,
)
from orders_cli.ops.verify_report import SymbolReport, VerifyReport
from orders_cli.redis_types import RedisClient
from orders_cli.rest.client import RestClient
from orders_cli.sources.base import RestRequest, Source
from orders_cli.store.keys import Keyspace

MARGIN_MS = 60_000
KLINES_WEIGHT = 2
PARALLEL_SYMBOLS = 4


@attrs.frozen(slots=True)
class VerifyOptions:
    since_ms: int = 24 * 3600 * 1000  # a duration
    repair: bool = False
    bars: bool = False
    klines: bool = False
    grace_ms: int = 10_000  # missing trades younger than this are in flight


@attrs.define
class CrossCheck:
    """What REST said about a symbol's holes."""

    split: HoleSplit
    found: list[Trade]  # REST trades inside the holes (only when asked to keep them)
    young: set[int]  # ids inside the holes whose REST trade time is after the cutoff


class Verifier:
    """Runs the checks for a set of symbols against one Redis and one REST client."""

    def __init__(
        self,
        redis: RedisClient,
        keyspace: Keyspace,
        source: Source,
        rest: RestClient,
        options: VerifyOptions,
        *,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.redis = redis
        self.ks = keyspace
        self.source = source
        self.rest = rest
        self.opts = options
        self.clock_ms = clock_ms

    async def run(self, symbols: Sequence[str] = ()) -> VerifyReport:
        """Verify ``symbols`` (default: every symbol in ``Keyspace.symbols()``)."""
        if symbols:
            symbols = await trio.to_thread.run_sync(vr.known, self.redis, self.ks, list(symbols))
        else:
            symbols = await trio.to_thread.run_sync(vr.stored_symbols, self.redis, self.ks)
        lo = self.clock_ms() - self.opts.since_ms
        report = VerifyReport(since_ms=lo, symbols=[SymbolReport(s) for s in symbols])
        limiter = trio.CapacityLimiter(PARALLEL_SYMBOLS)

        async def one(rep: SymbolReport) -> None:
            async with limiter:
                await self.verify_symbol(rep, lo)

        try:
            async with trio.open_nursery() as nursery:
                for rep in report.symbols:
                    nursery.start_soon(one, rep)
        except BaseExceptionGroup as group:
            # the first of our own errors (Redis/exchange unreachable) from the symbol tasks,
            # so the CLI maps it to one line and an exit code; anything else stays a group
            raise (orders_error_in(group) or group) from None
        return report

    # ---------------------------------------------------------------- REST helpers
    async def _trades(self, symbol: str, req: RestRequest) -> list[Trade]:
        return self.source.parse_agg_trades(symbol, await self.rest.get(req))

    async def _head(self, rep: SymbolReport) -> None:
        req = self.source.agg_trades_request(rep.symbol, limit=1)
        try:
            page = await self._trades(rep.symbol, req)
        except ExchangeRejected as exc:
            rep.errors.append(f"REST head check: {exc}")
            return
        rep.rest_head = max((t.agg_id for t in page), default=None)

    async def _first_rest_id(self, symbol: str, lo: int) -> int | None:
        req = self.source.agg_trades_request(symbol, start_time=lo, limit=1)
        page = await self._trades(symbol, req)
        return min((t.agg_id for t in page if t.trade_time >= lo), default=None)

    async def cross_check(
        self, symbol: str, holes: Sequence[IdRange], keep: bool, young_after: int | None = None
    ) -> CrossCheck:
        """Page every hole from REST (``fromId``): split it into missing / exchange-side;
        with ``keep``, also return the trades REST has (for the repair); with
        ``young_after`` (epoch ms), the hole ids whose trade time is later."""
        split, found, young = HoleSplit(), [], set()
        todo = list(holes)
        limit = self.source.limits.agg_trades_max_limit
        while todo:
            cursor = todo[0].first
            req = self.source.agg_trades_request(symbol, from_id=cursor, limit=limit)
            page = [t for t in await self._trades(symbol, req) if t.agg_id >= cursor]
            if not page:  # REST has nothing from the cursor on
                split.exchange_side.extend(todo)
                break
            top = max(t.agg_id for t in page)
            upto = top if len(page) >= limit else max(top, todo[-1].last)
            split.add(todo, upto, (t.agg_id for t in page))
            firsts = [h.first for h in todo]
            for t in page:
                i = bisect.bisect_right(firsts, t.agg_id) - 1
                if i < 0 or not todo[i].first <= t.agg_id <= todo[i].last:
                    continue
                if keep:
                    found.append(t)
                if young_after is not None and t.trade_time > young_after:
                    young.add(t.agg_id)
            todo = remaining_after(todo, upto)
        return CrossCheck(split.normalized(), found, young)

    # ---------------------------------------------------------------- one symbol
    async def verify_symbol(self, rep: SymbolReport, lo: int) -> None:
        sym = rep.symbol
        await self._head(rep)  # first: whatever REST has now, Redis should have next
        stored = await trio.to_thread.run_sync(
            vr.read_stored, self.redis, self.ks, sym, lo, MARGIN_MS
        )
        read_ms = self.clock_ms()  # as of reading Redis
        young_after = read_ms - self.opts.grace_ms
        holes = self._local_checks(rep, stored, lo)
        window = await self._window(rep, stored, read_ms - self.opts.since_ms)
        if window is not None and self.opts.repair:
            holes.insert(0, window)  # paged, split and filled like any hole
        else:
            rep.missing_window = window
        if rep.rest_head is not None:
            if rep.last_id is not None and rep.rest_head > rep.last_id:
                holes.append(IdRange(rep.last_id + 1, rep.rest_head))
            elif rep.last_id is None:  # nothing stored in the window: what should be?
                try:
                    first = await self._first_rest_id(sym, lo)
                except ExchangeRejected as exc:
                    rep.errors.append(f"REST window start: {exc}")
                    first = None
                if first is not None and first <= rep.rest_head:
                    holes.append(IdRange(first, rep.rest_head))
        history = self.source.rest_history_ms
        if history is not None:  # REST cannot have what is older: never paged
            rep.rest_window_h = history // 3_600_000
            rep.outside_rest_window, holes = older_than(holes, dict(stored.zset), read_ms - history)
        if holes:
            try:
                cc = await self.cross_check(sym, holes, self.opts.repair, young_after)
            except ExchangeRejected as exc:
                rep.errors.append(f"REST cross-check: {exc}")
                rep.unverified = holes
            else:
                split = cc.split
                rep.missing, flight = split_in_flight(split.missing, cc.young, rep.last_id)
                rep.exchange_side, rep.in_flight = split.exchange_side, total(flight)
                skip = {a for r in flight for a in range(r.first, r.last + 1)}
                found = [t for t in cc.found if t.agg_id not in skip]
                if self.opts.repair:  # what the stream holds comes back from it, not REST
                    in_stream = {a for r in rep.stream_extra for a in range(r.first, r.last + 1)}
                    found = [t for t in found if t.agg_id not in in_stream]
                    rep.repaired = await trio.to_thread.run_sync(
                        vr.restore_from_stream, self.redis, self.ks, sym, in_stream, lo - MARGIN_MS
                    )
                if self.opts.repair and (found or split.exchange_side):
                    rep.repaired += await trio.to_thread.run_sync(
                        vr.repair,
                        self.redis,
                        self.ks,
                        sym,
                        found,
                        split.exchange_side,
                        self.source.limits.first_agg_id,
                    )
        if rep.outside_rest_window:
            await self._record_unrecoverable(rep)
        if self.opts.bars or self.opts.klines:
            await self._bars(rep, lo)

    async def _record_unrecoverable(self, rep: SymbolReport) -> None:
        """Ids older than REST's history are exchange-side (not a problem); ``repair``
        records them so in the symbol's state, as the ingester does."""
        old = rep.outside_rest_window
        rep.exchange_side = to_ranges_merge([*rep.exchange_side, *old])
        if self.opts.repair:
            rep.repaired += await trio.to_thread.run_sync(
                vr.repair,
                self.redis,
                self.ks,
                rep.symbol,
                [],
                old,
                self.source.limits.first_agg_id,
            )

    async def _window(self, rep: SymbolReport, stored: vr.StoredIds, edge: int) -> IdRange | None:
        """The exchange's ids at/after ``edge`` below our first stored one there (a trade
        at/after ``edge`` cannot have been pruned yet by a retention of ``since``)."""
        ours = min((a for a, t in stored.zset if t >= edge), default=None)
        if ours is None:
            return None  # nothing stored: the head check covers the whole window
        try:
            return missing_window(await self._first_rest_id(rep.symbol, edge), ours)
        except ExchangeRejected as exc:
            rep.errors.append(f"REST window start: {exc}")
            return None

    def _local_checks(self, rep: SymbolReport, stored: vr.StoredIds, lo: int) -> list[IdRange]:
        window = [a for a, t in stored.zset if t >= lo]
        if not window:
            return []
        first, top = min(window), max(window)
        ids = [a for a, _ in stored.zset if a >= first]
        distinct = sorted(set(ids))
        rep.first_id, rep.last_id, rep.stored = first, top, len(distinct)
        rep.duplicates = duplicates(ids)
        # the stream, from where both it and the ZSET are complete, up to our newest id
        min_t = min(t for a, t in stored.zset if a >= first)
        edge = max(lo, min_t, stored.stream_first_ms or 0)
        zs = {a for a, t in stored.zset if t >= edge and first <= a <= top}
        st = [a for a, t in stored.stream if t >= edge and first <= a <= top]
        rep.stream_duplicates = duplicates(st)
        rep.stream_missing = to_ranges(zs - set(st))
        rep.stream_extra = to_ranges(set(st) - zs)
        return holes_between(distinct)

    async def _bars(self, rep: SymbolReport, lo: int) -> None:
        snap = await trio.to_thread.run_sync(vb.read_snapshot, self.redis, self.ks, rep.symbol, lo)
        if self.opts.bars:
            problems, rep.bars_compared = vb.compare_bars(snap, lo)
            rep.bar_problems.extend(problems)
        if self.opts.klines:
            rep.klines_compared = 0
            span = vb.kline_range(snap, lo)
            if span is None:
                return
            try:
                klines = await self._klines(rep.symbol, *span)
            except ExchangeRejected as exc:
                rep.errors.append(f"REST klines: {exc}")
                return
            settled = [  # windows the writer is still rolling up are not compared yet
                k
                for k in klines
                if not (k and type(k[0]) is int and snap.in_flight(vb.KLINE_TF, k[0]))
            ]
            bars = {
                ws: b
                for ws, b in snap.bars[vb.KLINE_TF].items()
                if not snap.in_flight(vb.KLINE_TF, ws)
            }
            rep.klines_compared = len(settled)
            rep.bar_problems.extend(vb.check_klines(bars, settled, *span))

    async def _klines(self, symbol: str, first: int, last: int) -> list[list[object]]:
        base = self.source.agg_trades_request(symbol, limit=1).path.rsplit("/", 1)[0]
        out: list[list[object]] = []
        start = first
        while start <= last:
            req = RestRequest(
                path=f"{base}/klines",
                params={
                    "symbol": symbol,
                    "interval": vb.KLINE_TF,
                    "startTime": str(start),
                    "endTime": str(last + 59_999),
                    "limit": str(vb.KLINES_LIMIT),
                },
                weight=KLINES_WEIGHT,
            )
            page = orjson.loads(await self.rest.get(req))
            if not isinstance(page, list) or not page:
                break
            rows = [k for k in page if isinstance(k, list) and k and isinstance(k[0], int)]
            out.extend(rows)
            if len(page) < vb.KLINES_LIMIT or not rows:
                break
            start = max(k[0] for k in rows) + 60_000
        return out
