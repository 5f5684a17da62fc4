"""The backfill service: REST gap fills, cold starts and head checks for the writer.

Consumes ``GapRequest`` / ``ColdStart`` / ``HeadCheck``; produces ``Backfilled``,
``ExchangeHole``, ``HeadSeen`` and ``ColdStartDone`` into the writer's bounded channel
(``await send``: backfill may wait for the writer). One REST call per work item, at most
``concurrency`` in flight (speculative work in all but one: a gap fill always has a
slot; head checks in at most half of those while cold-start work is ready: sweeps and
silence checks are periodic, and when REST is slowed (429 pauses) they can arrive
faster than they are answered and would starve every cold start ranked after them)
and one per symbol, so one symbol's pages reach the writer in id order. With a
``PageGate``, pages wait until the writer has applied enough of the earlier ones (a
bound in trades), and requests for ids already handed to the writer, or for a cold
start already under way, are not fetched again. The REST client paces the
weight budget; speculative work it defers to the next minute (``WeightDeferred``) is
queued again for then, freeing its slot and its symbol: a gap in that symbol is filled
from the share of the minute kept for gap fills, not after the head check. Errors are
classified: a 418 ban, a 429 or a 403 pauses every call until
it ends (``RateLimited.retry_after``), then the work resumes (never lost); other
``ExchangeUnavailable`` (a bad page too: ``BadExchangeReply``) and a page our parser
refuses requeue with backoff (never lost: a cold start's window stays open); only the
exchange's own error (``ExchangeRejected`` with a code, e.g. -1121) drops the work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Protocol

import attrs
import trio

from orders_cli.clock import now_ms
from orders_cli.errors import (
    BadExchangeReply,
    ExchangeRejected,
    ExchangeUnavailable,
    RateLimited,
    WeightDeferred,
)
from orders_cli.messages import (
    COLD_PRIORITY,
    HEAD_PRIORITY,
    Backfilled,
    BackfillInput,
    ColdStart,
    ColdStartDone,
    ExchangeHole,
    GapRequest,
    HeadCheck,
    HeadSeen,
    WriterInput,
)
from orders_cli.models import Rejection, Trade
from orders_cli.pipeline.backfill_gate import Held, PageGate, subtract
from orders_cli.pipeline.backfill_plan import (
    AggTradesSource,
    ColdStartPlanner,
    SpotColdStart,
    WindowedColdStart,
    planner_for,
)
from orders_cli.pipeline.backfill_progress import ColdPages
from orders_cli.pipeline.backfill_queue import (
    HeadWork,
    LocateWork,
    RangeWork,
    Work,
    WorkQueue,
    is_speculative,
)
from orders_cli.pipeline.backfill_sweep import sweep_interval, sweeper
from orders_cli.pipeline.rest_window import cold_start_since, edge_request, outside_note
from orders_cli.retry import RetryPolicy
from orders_cli.sources.base import RestRequest
from orders_cli.telemetry import Telemetry

__all__ = [
    "Backfill",
    "ColdStartPlanner",
    "RestGetter",
    "SpotColdStart",
    "WindowedColdStart",
    "missing_ranges",
    "planner_for",
    "sweep_interval",
    "sweeper",
]

log = logging.getLogger(__name__)


class RestGetter(Protocol):
    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        """The reply's body; a ``speculative`` call may raise ``WeightDeferred`` (not sent:
        the minute has no weight left for it) instead of waiting for the next minute."""
        ...


def missing_ranges(lo: int, hi: int, ids: Iterable[int]) -> list[tuple[int, int]]:
    """The ids of ``[lo, hi]`` absent from sorted ``ids``, as inclusive ranges."""
    out: list[tuple[int, int]] = []
    expect = lo
    for i in ids:
        if i > hi:
            break
        if i > expect:
            out.append((expect, i - 1))
        expect = max(expect, i + 1)
    if expect <= hi:
        out.append((expect, hi))
    return out


def _ordered(trades: Iterable[Trade]) -> list[Trade]:
    """By id, one per id (never by time: equal or backwards ``T`` is real)."""
    return sorted({t.agg_id: t for t in trades}.values(), key=lambda t: t.agg_id)


class Backfill:
    def __init__(
        self,
        source: AggTradesSource,
        rest: RestGetter,
        requests: trio.MemoryReceiveChannel[BackfillInput],
        out: trio.MemorySendChannel[WriterInput],
        telemetry: Telemetry,
        *,
        concurrency: int = 5,
        page_limit: int = 1000,
        clock_ms: Callable[[], int] = now_ms,
        planner: ColdStartPlanner | None = None,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 60.0,
        max_empty_retries: int = 3,
        gate: PageGate | None = None,
        on_head: Callable[[str, int, float], None] | None = None,
    ) -> None:
        """``out`` should be this service's own clone: ``run`` closes it on exit.
        ``on_head(symbol, newest id, trio time the request was made)``: told every head
        check's answer (the silent-endpoint watch, pipeline/endpoint_watch.py).
        ``planner`` is the market's cold-start strategy (default: ``planner_for(source)``:
        windows for futures, the one ``startTime`` call for spot). ``gate``: shared with
        the writer, which releases what it applied (None: no bound, for tests)."""
        self._source = source
        self._rest = rest
        self._requests = requests
        self._out = out
        self._telemetry = telemetry
        self._concurrency = max(1, concurrency)
        self._page_limit = min(page_limit, source.limits.agg_trades_max_limit)
        self._clock_ms = clock_ms
        self._planner = planner if planner is not None else planner_for(source)
        self._retry_policy = RetryPolicy(retry_base_s, retry_cap_s, jitter="none")
        self._max_empty_retries = max_empty_retries
        self._queue = WorkQueue()
        self._busy: set[str] = set()
        self._speculating = 0  # speculative calls in flight: never in the last free slot
        self._heading = 0  # head checks in flight
        # head checks' slots while cold-start work is ready (0: that work goes first)
        self._head_slots = max(1, self._concurrency - 1) // 2
        self._cold_first: dict[str, int | None] = {}
        self._cold_until: dict[str, int | None] = {}  # cold starts under way
        self._cold_done: dict[str, ColdStartDone] = {}  # sent, maybe not applied yet
        self._gate = gate
        self._on_head = on_head
        self._paused_until = 0.0  # trio clock: no call before (a ban, a 429)
        self._wake = trio.Event()
        self._input_closed = False
        self._cold_pages = ColdPages(self._page_limit)
        self.heads_empty: set[str] = set()
        """Symbols whose head check found no trade at all (nothing to backfill)."""
        self.done = 0
        """Work items finished (a page, a head check, a dropped request)."""

    # --- introspection -------------------------------------------------------------

    def pending(self) -> int:
        """Queued work items (not counting the ones in flight)."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    # --- service -------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled, or until the request channel is closed and every
        queued request is done."""
        async with self._out, trio.open_nursery() as nursery:
            nursery.start_soon(self._intake)
            task_status.started()
            await self._dispatch(nursery)

    async def _intake(self) -> None:
        async with self._requests:
            while True:
                try:
                    msg = await self._requests.receive()
                except trio.EndOfChannel:
                    break
                self._accept(msg)
                while True:  # take whatever else is already there before dispatching
                    try:
                        self._accept(self._requests.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                self._changed()
        self._input_closed = True
        self._changed()

    def _accept(self, msg: BackfillInput) -> None:
        q = self._queue
        if isinstance(msg, GapRequest):
            if msg.last is not None and msg.last < msg.first:
                return
            held = (
                self._gate.held_ranges(msg.symbol, msg.gate_epoch) if self._gate is not None else []
            )
            parts = subtract(msg.first, msg.last, held)
            if parts != [(msg.first, msg.last)]:
                self._count("backfill_deduped")
            for first, last in parts:  # queued and in-flight ids: merged, trimmed by the queue
                q.push(RangeWork(msg.symbol, first, last, msg.priority, q.next_seq()))
        elif isinstance(msg, ColdStart):
            self._accept_cold(msg)
        elif isinstance(msg, HeadCheck):
            self._count(f"head_checks:{msg.reason}", len(msg.symbols))  # our own reasons
            for symbol in msg.symbols:
                q.push(HeadWork(symbol, HEAD_PRIORITY, q.next_seq()))

    def _accept_cold(self, msg: ColdStart) -> None:
        """A cold start of a symbol whose cold start is already under way is not started
        again (that fetched every page twice); only ids above its end are added."""
        q, s = self._queue, msg.symbol
        done = self._cold_done.get(s)
        if done is not None and not (self._gate is not None and self._gate.holds(done)):
            del self._cold_done[s]  # the writer has applied it: a new request is a new one
            self._cold_until.pop(s, None)
        if s not in self._cold_until:
            self._cold_until[s] = msg.until_id
            q.push(LocateWork(s, msg.since_ms, msg.until_id, COLD_PRIORITY, q.next_seq()))
            self._count_cold_pages(s)
            return
        self._count("backfill_deduped")
        until = self._cold_until[s]
        if until is None or (msg.until_id is not None and msg.until_id <= until):
            return
        self._cold_until[s] = msg.until_id
        last = None if msg.until_id is None else msg.until_id - 1
        q.push(RangeWork(s, until, last, COLD_PRIORITY, q.next_seq(), cold=True))
        self._count_cold_pages(s)

    def _count_cold_pages(self, symbol: str) -> None:
        """The estimate of ``symbol``'s cold-start pages left, after its queue changed."""
        self._cold_pages.update(symbol, self._queue.items(symbol))
        self._telemetry.history.pages_left = self._cold_pages.total()

    def _changed(self) -> None:
        self._telemetry.backfill_queue = len(self._queue)
        self._wake.set()

    async def _dispatch(self, nursery: trio.Nursery) -> None:
        while True:
            if self._input_closed and not self._queue and not self._busy:
                nursery.cancel_scope.cancel()
                return
            now = trio.current_time()
            if now < self._paused_until:  # banned / rate limited: nothing goes out
                self._wake = trio.Event()
                with trio.move_on_at(self._paused_until):
                    await self._wake.wait()
                continue
            if len(self._busy) < self._concurrency:
                work = self._next_work(now)
                if work is not None:
                    self._busy.add(work.symbol)
                    self._speculating += is_speculative(work)  # before it starts: counted now
                    self._heading += isinstance(work, HeadWork)
                    self._telemetry.backfill_queue = len(self._queue)
                    nursery.start_soon(self._execute, work)
                    continue
            self._wake = trio.Event()
            with trio.move_on_at(self._queue.next_due(now)):
                await self._wake.wait()

    def _next_work(self, now: float) -> Work | None:
        """The next work for a free slot: speculative work never in the last one, and
        head checks past their share only when nothing else is ready (no slot idles)."""
        spare = self._concurrency == 1 or self._speculating < self._concurrency - 1
        heads = self._heading < self._head_slots
        work = self._queue.pop_ready(now, self._busy, speculative=spare, head_checks=heads)
        if work is None and spare and not heads:
            work = self._queue.pop_ready(now, self._busy)
        return work

    async def _execute(self, work: Work) -> None:
        try:
            if isinstance(work, RangeWork):
                await self._range_step(work)
            elif isinstance(work, LocateWork):
                await self._locate_step(work)
            else:
                await self._head_step(work)
        except WeightDeferred as exc:  # speculative, and this minute's share is spent
            self._count("backfill_deferred")
            self._queue.push(attrs.evolve(work, not_before=trio.current_time() + exc.retry_after))
        except RateLimited as exc:  # a 418 ban, or 429s past the client's own retries
            self._count("backfill_rate_limited")
            until = trio.current_time() + exc.retry_after
            self._paused_until = max(self._paused_until, until)
            log.warning("backfill %s: %s; every call waits %.0fs", work, exc, exc.retry_after)
            self._queue.push(attrs.evolve(work, not_before=until))  # not its fault: no backoff
        except ExchangeUnavailable as exc:
            self._retry(work, exc)
        except ExchangeRejected as exc:
            if exc.code is None:  # a page we could not read: not the exchange's answer
                self._retry(work, exc)
            else:
                self._count("backfill_errors")
                self._count("backfill_dropped")
                log.error("backfill %s: rejected (code %s): %s", work, exc.code, exc)
                if isinstance(work, LocateWork):  # e.g. -1121: the window has nothing
                    self._cold_first.setdefault(work.symbol, None)
                self.done += 1
        finally:
            self._busy.discard(work.symbol)
            self._speculating -= is_speculative(work)
            self._heading -= isinstance(work, HeadWork)
            if work.symbol in self._cold_pages:
                self._count_cold_pages(work.symbol)
        await self._maybe_cold_done(work.symbol)
        self._changed()

    def _retry(self, work: Work, exc: Exception) -> None:
        """Transient: queue ``work`` again after a backoff; its gap stays open meanwhile."""
        self._count("backfill_errors")
        self._count("backfill_retries")
        if isinstance(exc, BadExchangeReply | ExchangeRejected):
            self._count("backfill_bad_replies")
        delay = self._retry_policy.delay(work.attempts)
        log.warning("backfill %s: %s, retry in %.0fs", work, exc, delay)
        self._queue.push(
            attrs.evolve(work, attempts=work.attempts + 1, not_before=trio.current_time() + delay)
        )

    async def _fetch(self, work: Work, req: RestRequest) -> list[Trade]:
        self._count("backfill_rest_calls")  # RestClient counts rest_calls (all callers)
        self._count("backfill_weight", req.weight)
        if isinstance(work, LocateWork) or (isinstance(work, RangeWork) and work.cold):
            self._count("backfill_cold_pages")
        body = await self._rest.get(req, speculative=is_speculative(work))
        rejected: list[Rejection] = []
        trades = self._source.parse_agg_trades(work.symbol, body, rejected)
        if rejected:  # their ids are missing from the page: an exchange-side hole
            self._count("out_of_range", len(rejected))
            log.warning(
                "backfill %s: %d trade(s) out of range left out (%s: %s)",
                work.symbol,
                len(rejected),
                rejected[0].reason,
                rejected[0].raw[:200],
            )
        return _ordered(trades)

    async def _emit(self, symbol: str, lo: int, hi: int, trades: list[Trade]) -> None:
        """Send the page of ids ``[lo, hi]``: its ``trades``, then the ids REST lacks."""
        if trades:
            self._count("backfill_trades", len(trades))
            await self._send(Backfilled(symbol, tuple(trades)), (lo, hi))
        for a, b in missing_ranges(lo, hi, (t.agg_id for t in trades)):
            self._count("exchange_holes")
            self._count("exchange_hole_ids", b - a + 1)
            log.warning("exchange-side hole %s [%d, %d]", symbol, a, b)
            await self._send(ExchangeHole(symbol, a, b), (a, b))

    async def _send(self, msg: Held, span: tuple[int, int] | None = None) -> None:
        if self._gate is not None:
            await self._gate.admit(msg, span)
        await self._out.send(msg)

    async def _range_step(self, w: RangeWork) -> None:
        limit = self._page_limit if w.last is None else min(self._page_limit, w.last - w.first + 1)
        req = self._source.agg_trades_request(w.symbol, from_id=w.first, limit=limit)
        got = [t for t in await self._fetch(w, req) if t.agg_id >= w.first]
        self.done += 1
        if not got:
            if w.last is None:
                return  # at the head: nothing more yet
            if await self._below_window(w, w.last):
                return
            # REST may lag the live stream: try again later, a bounded number of times
            if w.empty_tries >= self._max_empty_retries:
                self._count("backfill_gave_up")
                log.warning(
                    "backfill %s [%d, %d]: REST has nothing, giving up", w.symbol, w.first, w.last
                )
                return
            delay = self._retry_policy.delay(w.empty_tries)
            self._queue.push(
                attrs.evolve(
                    w, empty_tries=w.empty_tries + 1, not_before=trio.current_time() + delay
                )
            )
            return
        top = got[-1].agg_id if w.last is None else min(got[-1].agg_id, w.last)
        within = [t for t in got if t.agg_id <= top]
        await self._emit(w.symbol, w.first, top, within)
        self._queue.trim(w.symbol, w.first, top)
        if w.last is None and len(got) < limit:
            return  # short page: the head
        if w.last is not None and top >= w.last:
            return
        self._queue.push(attrs.evolve(w, first=top + 1, attempts=0, empty_tries=0, not_before=0.0))

    async def _below_window(self, w: RangeWork, last: int) -> bool:
        """An empty page for ids below a seen one: when REST's window starts above
        ``w.first`` they are an exchange-side hole (never retried); the rest is queued."""
        req = edge_request(self._source, w.symbol, self._clock_ms())
        edge = [] if req is None else await self._fetch(w, req)
        if not edge or edge[0].agg_id <= w.first:
            return False
        top = min(edge[0].agg_id - 1, last)
        self._count("exchange_holes_outside_rest_window")
        log.info("%s [%d, %d]: %s", w.symbol, w.first, top, outside_note(self._source))
        await self._emit(w.symbol, w.first, top, [])
        self._queue.trim(w.symbol, w.first, top)
        if top < last:
            self._queue.push(attrs.evolve(w, first=top + 1, attempts=0, not_before=0.0))
        return True

    async def _locate_step(self, w: LocateWork) -> None:
        now = self._clock_ms()
        since = cold_start_since(self._source, w.since_ms, now) if w.step == 0 else w.since_ms
        if since != w.since_ms:  # later steps walk on from here
            w = attrs.evolve(w, since_ms=since)
            self._count("cold_starts_inside_rest_window")
            log.info(
                "cold start %s from %.1f h back: the rest is %s",
                w.symbol,
                (now - since) / 3_600_000,
                outside_note(self._source),
            )
        req = self._planner.locate(
            self._source,
            w.symbol,
            w.since_ms,
            step=w.step,
            now_ms=now,
            limit=self._page_limit,
        )
        if req is None:
            self._cold_first[w.symbol] = None
            self.done += 1
            return
        got = await self._fetch(w, req)
        self.done += 1
        if not got:
            self._queue.push(attrs.evolve(w, step=w.step + 1, attempts=0, not_before=0.0))
            return
        self._cold_first[w.symbol] = got[0].agg_id
        end = math.inf if w.until_id is None else w.until_id - 1
        within = [t for t in got if t.agg_id <= end]
        if within:
            await self._emit(w.symbol, within[0].agg_id, within[-1].agg_id, within)
        top = got[-1].agg_id
        if top >= end:
            return
        if w.until_id is None and self._planner.open_ended and len(got) < self._page_limit:
            return  # startTime alone returned everything up to the head
        last = None if w.until_id is None else w.until_id - 1
        self._queue.push(RangeWork(w.symbol, top + 1, last, w.priority, w.seq, cold=True))

    async def _head_step(self, w: HeadWork) -> None:
        req = self._source.agg_trades_request(w.symbol, limit=1)
        asked = trio.current_time()
        got = await self._fetch(w, req)
        self.done += 1
        if got:
            if self._on_head is not None:
                self._on_head(w.symbol, got[-1].agg_id, asked)
            self._count("backfill_head_seen")
            await self._out.send(HeadSeen(w.symbol, got[-1].agg_id))
        else:
            self.heads_empty.add(w.symbol)

    async def _maybe_cold_done(self, symbol: str) -> None:
        """ColdStartDone goes out after every page of the cold start was sent."""
        if symbol not in self._cold_first or symbol in self._busy:
            return
        if self._queue.has_cold_range(symbol) or any(
            isinstance(i, LocateWork) for i in self._queue.items(symbol)
        ):
            return
        done = ColdStartDone(symbol, self._cold_first.pop(symbol))
        self._busy.add(symbol)  # keep the symbol's order while we wait for the writer
        try:
            await self._send(done)
        finally:
            self._busy.discard(symbol)
        self._cold_done[symbol] = done  # still under way until the writer has applied it

    def _count(self, name: str, n: int = 1) -> None:
        self._telemetry.count(name, n)
