"""The writer task: drains the bounded inbox (up to ``batch_max`` items or ``batch_s``),
applies the batch in the single Redis thread, retries with backoff while Redis is away
(the batch is kept: nothing acknowledged is lost; the bounded inbox fills and the shards
drop-and-record instead), retries alone the symbols Redis refused in a round the others
went through, and tells the backfill what to fetch.

Backfilled pages share the inbox with live trades, one item for up to 1,000 trades. While
live trades wait, a batch applies at most one page per ``live_per_page`` live trades of
the batch, and at least one: the rest of what the backfill sent (pages, and its other
messages, in their order) waits in ``_deferred`` for the next batches, so REST pages
never starve live trades and are never starved by them. ``_deferred`` is bounded by the
backfill's ``PageGate``: a deferred page is not released until it is applied."""

from __future__ import annotations

import logging
import math
import time
from collections import deque

import attrs
import trio

from orders_cli.errors import RedisRejected, RedisUnavailable
from orders_cli.messages import (
    Backfilled,
    BackfillInput,
    ColdStartDone,
    ExchangeHole,
    GapRequest,
    HeadCheck,
    HeadSeen,
    ShardEvent,
    WriterInput,
)
from orders_cli.models import Trade
from orders_cli.pipeline.backfill_gate import PageGate
from orders_cli.pipeline.silence import SilenceWatch
from orders_cli.retry import Backoff
from orders_cli.store.processor import Outcome, Processor
from orders_cli.store.worker import RETRY_BASE_S, RedisWorker
from orders_cli.telemetry import Telemetry

log = logging.getLogger(__name__)
LIVE_PER_PAGE = 2000
"""Live trades per backfilled page a batch applies while both wait: REST pages (1,000
trades) take at most a third of the writer under overload, all of it once live is
below capacity."""
FROM_BACKFILL = (Backfilled, ExchangeHole, ColdStartDone, HeadSeen)


class Writer:
    def __init__(
        self,
        processor: Processor,
        worker: RedisWorker,
        inbox: trio.MemoryReceiveChannel[WriterInput],
        backfill: trio.MemorySendChannel[BackfillInput] | None,
        telemetry: Telemetry,
        *,
        batch_max: int = 5000,
        batch_s: float = 0.1,
        retry_max_s: float = 5.0,
        regap_s: float = 30.0,
        gate: PageGate | None = None,
        silence: SilenceWatch | None = None,
        live_per_page: int = LIVE_PER_PAGE,
    ) -> None:
        """``gate``: the backfill's bound on pages not applied yet; released here after
        every applied batch. ``silence``: told which symbols traded live."""
        self.processor = processor
        self.worker = worker
        self.inbox = inbox
        self.backfill = backfill
        self.telemetry = telemetry
        self.batch_max = batch_max
        self.batch_s = batch_s
        self.retry_max_s = retry_max_s
        self.batches = 0
        self.heads_seen: set[str] = set()
        """Symbols whose head check (HeadSeen) is applied: their tail is known."""
        self.regap_s = regap_s
        self._next_regap = 0.0
        self.gate = gate
        self.silence = silence
        self.live_per_page = live_per_page
        # what the backfill sent that waits for a later batch (see the module docstring)
        self._deferred: deque[WriterInput] = deque()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        closed = False
        while not closed:
            batch, closed = await self._collect()
            batch = self.share(batch)
            if batch or self.processor.needs_tick():
                await self._apply(batch, flush=closed)
        await self._apply(self.share([], everything=True), flush=True)

    def share(self, batch: list[WriterInput], *, everything: bool = False) -> list[WriterInput]:
        """What of ``batch`` and of the deferred backfill items to apply now: every live
        item, and backfill items in their order up to ``max(1, live trades //
        live_per_page)`` pages (all of them when no live trade waits, or ``everything``);
        the rest is deferred."""
        live: list[WriterInput] = [b for b in batch if not isinstance(b, FROM_BACKFILL)]
        self._deferred.extend(b for b in batch if isinstance(b, FROM_BACKFILL))
        trades = sum(1 for b in live if isinstance(b, Trade))
        if everything or not trades:
            pages = len(self._deferred)
        else:
            pages = max(1, trades // self.live_per_page)
        out = live
        while self._deferred:
            if isinstance(self._deferred[0], Backfilled):
                if not pages:
                    break
                pages -= 1
            out.append(self._deferred.popleft())
        return out

    def _drain(self, batch: list[WriterInput]) -> bool:
        """Move what the inbox holds now into ``batch`` (up to ``batch_max``); True when
        the inbox is closed and empty."""
        while len(batch) < self.batch_max:
            try:
                batch.append(self.inbox.receive_nowait())
            except trio.WouldBlock:
                return False
            except trio.EndOfChannel:
                return True
        return False

    async def _collect(self) -> tuple[list[WriterInput], bool]:
        """Up to ``batch_max`` inputs. If inputs were already waiting (they arrived while
        the previous batch was applied), take what is there and go: they have waited
        long enough. Otherwise wait for the first, then at most ``batch_s`` for more."""
        batch: list[WriterInput] = []
        closed = self._drain(batch)
        if batch or closed or self._deferred:
            return batch, closed
        with trio.move_on_after(self.batch_s if self.processor.needs_tick() else math.inf):
            try:
                batch.append(await self.inbox.receive())
            except trio.EndOfChannel:
                return batch, True
        with trio.move_on_at(trio.current_time() + self.batch_s):
            while len(batch) < self.batch_max:
                if self._drain(batch):
                    return batch, True
                if len(batch) < self.batch_max:
                    try:
                        batch.append(await self.inbox.receive())
                    except trio.EndOfChannel:
                        return batch, True
        return batch, False

    async def _apply(self, batch: list[WriterInput], *, flush: bool) -> None:
        """Apply ``batch``; keep it while Redis is away or refuses (capped backoff), and
        when Redis refuses only some symbols (the others are stored), retry those alone."""
        events = [b for b in batch if isinstance(b, ShardEvent)]
        data = [b for b in batch if not isinstance(b, ShardEvent)]
        backoff = Backoff(RETRY_BASE_S, self.retry_max_s, jitter="none")
        while True:
            try:
                outcome = await self.worker.run(self.processor.process, data, flush)
            except (RedisUnavailable, RedisRejected) as exc:
                # rejected outside one symbol's apply (the round's state loads): a store-wide
                # fault the operator fixes; keep the batch and stay up meanwhile
                self.worker.waiting(exc, f"{len(data)} inputs")
                await trio.sleep(backoff.next())
                continue
            held = {id(i) for items in outcome.refused.values() for i in items}
            if self.gate is not None:  # before the re-requests: they see these pages applied
                self.gate.release([d for d in data if id(d) not in held])
            self.heads_seen.update(
                d.symbol for d in data if isinstance(d, HeadSeen) and id(d) not in held
            )
            self.batches += 1
            await self._report(outcome, events)
            events = []
            if outcome.refusal is None:
                break
            data = [d for d in data if id(d) in held]
            self.worker.waiting(
                outcome.refusal, f"{len(data)} inputs of {len(outcome.refused)} symbols"
            )
            await trio.sleep(backoff.next())
        self.worker.accepted()

    async def _report(self, outcome: Outcome, events: list[ShardEvent]) -> None:
        t = self.telemetry
        t.counters.update(outcome.counters)
        t.latency_ms.extend(outcome.latencies_ms)
        t.open_gaps, t.oldest_open_gap_ms = self.processor.open_gaps()
        t.most_gaps_per_symbol = self.processor.most_gaps_per_symbol()
        for symbol, n in outcome.gaps_opened.items():
            t.count_labelled("gaps_opened", symbol, n)
        oldest = t.oldest_open_gap_ms
        t.oldest_open_gap_mono = (
            None if oldest is None else time.monotonic() - self.processor.gap_age_ms(oldest) / 1000
        )
        now = trio.current_time()
        if self.silence is not None:
            for symbol, n in outcome.live.items():
                self.silence.saw(symbol, n, now)
        if self.backfill is None:
            return
        requests: list[BackfillInput] = [*outcome.gap_requests, *outcome.cold_starts]
        if t.open_gaps and now >= self._next_regap:
            if self._next_regap:
                epoch = self.gate.epoch if self.gate is not None else None
                requests += [  # stamped: pages applied before the backfill reads them count
                    attrs.evolve(r, gate_epoch=epoch) if isinstance(r, GapRequest) else r
                    for r in self.processor.stale_gap_requests(int(self.regap_s * 1000))
                ]
            self._next_regap = now + self.regap_s
        if outcome.rolled_back:
            log.warning(
                "Redis lost acknowledged writes of %d symbol%s (their state went back: a "
                "restart or a restore of an older snapshot): reloaded; re-fetching from REST",
                len(outcome.rolled_back),
                "" if len(outcome.rolled_back) == 1 else "s",
            )
            requests.append(HeadCheck(tuple(outcome.rolled_back), reason="rollback"))
        requests += [
            HeadCheck(ev.symbols, reason="reconnect")
            for ev in events
            if ev.kind == "connected" and ev.symbols
        ]
        try:
            for req in requests:
                await self.backfill.send(req)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # shutting down: open gaps are in Redis and resume on the next start
            self.backfill = None
