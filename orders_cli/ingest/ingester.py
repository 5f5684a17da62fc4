"""The ingester: discovery → shard pool → bounded channel → writer (+ backfill, listing
sync, head-check sweep); its run-time services are in ingest/services.py. Stopping is
cancelling the producers: the writer then drains what was received and flushes it before
returning.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Callable, Sequence
from functools import partial

import attrs
import trio

from orders_cli.clock import now_ms
from orders_cli.config import RunConfig
from orders_cli.durations import format_duration
from orders_cli.errors import ExchangeRejected, ExchangeUnavailable, UsageError
from orders_cli.hints import command
from orders_cli.messages import BackfillInput, HeadCheck, WriterInput
from orders_cli.models import SymbolInfo
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.backfill_gate import PageGate
from orders_cli.pipeline.backfill_progress import HistoryWatch
from orders_cli.pipeline.backfill_sweep import sweep_interval, sweeper
from orders_cli.pipeline.closeout import Closeout, find_closeout
from orders_cli.pipeline.discovery import fetch_exchange_info
from orders_cli.pipeline.endpoint_watch import EndpointWatch
from orders_cli.pipeline.listing import ListingSync
from orders_cli.pipeline.shard import Shard
from orders_cli.pipeline.shardpool import ShardPool
from orders_cli.pipeline.silence import SilenceWatch, checks_per_minute, silence_checks
from orders_cli.pipeline.writer import Writer
from orders_cli.redis_conn import ingester_name, name_connections
from orders_cli.redis_types import RedisClient
from orders_cli.rest.client import RestClient
from orders_cli.rest.pool import RestPool
from orders_cli.sources.base import Source
from orders_cli.store.info import mark_delisted, save_malformed, write_infos
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import EXCHANGE, apply_claim, plan_claim, simulator, where
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry
from orders_cli.ws.wsopen import ws_client_kind

log = logging.getLogger("orders.run")
EXAMPLE_SYMBOLS = ("BTCUSDT", "ETHUSDT")  # the panel's `orders tail` hint, when listed


def example_symbol(trading: Sequence[str]) -> str | None:
    """The symbol the panel suggests to `orders tail`: a well-known one when listed."""
    listed = set(trading)
    return next((s for s in EXAMPLE_SYMBOLS if s in listed), trading[0] if trading else None)


def ready_line(symbols: int, market: str, took_s: float) -> str:
    """The one log line of the moment a market's history is complete, with the commands
    that can trust it from then on (naming the market but for spot, which they default
    to: each market of a run of several says its own)."""
    which, flag = ("", "") if market == "spot" else (f"{market} ", f" --market {market}")
    return (
        f"{symbols} {which}symbols live, history complete in {format_duration(took_s)}: "
        f"`{command(f'verify{flag}')}` and `{command(f'tail{flag} --since')}` see every "
        "trade of the window from now on"
    )


@attrs.frozen(slots=True)
class StoreClaim:
    """How a run claims its keyspace (store/origin.py) once the exchange answered.
    ``replace``: consent to delete data the claim must replace (``--replace-store``);
    else ``confirm(question)`` asks (a terminal; blocking, run in a thread), and without
    it the run refuses and deletes nothing."""

    replace: bool = False
    confirm: Callable[[str], bool] | None = None


class Ingester:
    """One ``orders run``. ``run()`` returns after ``stop()`` once everything received
    has been written."""

    def __init__(
        self,
        cfg: RunConfig,
        source: Source,
        redis: RedisClient,
        telemetry: Telemetry | None = None,
        *,
        claim: StoreClaim | None = None,
        rest_pool: RestPool | None = None,
        redis_limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        """``claim``: claim the keyspace for what the exchange serves (store/origin.py)
        once it has answered, before the first write; None: no claim (tests).
        ``rest_pool``, ``redis_limiter``: shared with the other markets' ingesters of one
        process (ingest/fleet.py): the REST weight pool of this market, one Redis thread."""
        self.claim = claim
        self.admitted = trio.Event()
        """Set once the start-up checks passed (the exchange answered, the keyspace is
        claimed): from then on the run may advertise itself and publish its health."""
        self.cfg = cfg
        self.source = source
        self.redis = redis
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.ks = Keyspace(market_prefix=source.key_prefix, namespace=cfg.namespace)
        self.rest_pool = rest_pool
        self.worker = RedisWorker(redis, self.telemetry, limiter=redis_limiter)
        self.ws_url = cfg.ws_url or source.default_ws_url
        self.rest_url = cfg.rest_url or source.default_rest_url
        self.pool: ShardPool | None = None
        self.infos: dict[str, SymbolInfo] = {}
        self._producers: trio.CancelScope | None = None
        self._asking: trio.CancelScope | None = None
        self._stop_requested = False
        self.writer: Writer | None = None
        self.backfill: Backfill | None = None
        self._resumed: list[BackfillInput] = []
        self._bf_send: trio.MemorySendChannel[BackfillInput] | None = None
        self._rest: RestClient | None = None
        self.gate: PageGate | None = None
        self.closeout = Closeout()
        self.silence: SilenceWatch | None = None
        self.endpoints = EndpointWatch(lambda: self.shards)

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Stop receiving; what was received is still written before ``run`` returns."""
        self._stop_requested = True
        for scope in (self._producers, self._asking):
            if scope is not None:
                scope.cancel()

    async def request_backfill(self, req: BackfillInput) -> None:
        if self._bf_send is not None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._bf_send.send(req)

    def wanted(self, infos: list[SymbolInfo]) -> list[SymbolInfo]:
        """The listed instruments this run is about (``--symbols``, else all)."""
        if not self.cfg.symbols:
            return infos
        keep = set(self.cfg.symbols)
        return [i for i in infos if i.symbol in keep]

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    @property
    def shards(self) -> list[Shard]:
        return self.pool.shards if self.pool is not None else []

    @property
    def subscribed(self) -> list[str]:
        return self.pool.symbols() if self.pool is not None else []

    # ------------------------------------------------------------------ run
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        cfg, source, t = self.cfg, self.source, self.telemetry
        limits = source.limits
        async with RestClient(
            self.rest_url,
            weight_limit_per_minute=limits.rest_weight_per_minute,
            target_fraction=cfg.rest_weight_fraction,
            telemetry=t,
            pool=self.rest_pool,
        ) as rest:
            infos = await self._discover(rest)
            self.admitted.set()
            name = ingester_name(cfg.ingester_id)  # `orders status` sees us while writes fail
            await self.worker.run_retrying(name_connections, self.redis, name)
            trading = [i.symbol for i in infos if i.trading]  # infos: --symbols applied
            t.symbols_listed, t.symbols_subscribed = len(infos), len(trading)
            t.example_symbol = example_symbol(trading)
            processor = Processor(
                self.redis,
                self.ks,
                PlanConfig(
                    first_agg_id=limits.first_agg_id,
                    cold_start=cfg.backfill_s > 0,
                    reorder_s=cfg.reorder_s,
                ),
                backfill_ms=int(cfg.backfill_s * 1000),
                timeframes=cfg.timeframes,
                rollup_s=cfg.rollup_s,
                retention_ms=int(cfg.retention_s * 1000),
            )
            closing = list(self.closeout.symbols)
            resume = await self.worker.run_retrying(processor.preload, [*trading, *closing])
            writer_send, writer_recv = trio.open_memory_channel[WriterInput](cfg.channel_size)
            bf_send, bf_recv = trio.open_memory_channel[BackfillInput](10_000)
            self.gate = PageGate()  # backfill pages the writer has not applied yet
            if cfg.silence_cap_s > 0:
                per_minute = checks_per_minute(rest.weight_share, limits.agg_trades_weight)
                self.silence = SilenceWatch(cfg.silence_cap_s, per_minute)
            self.writer = Writer(
                processor,
                self.worker,
                writer_recv,
                bf_send,
                t,
                batch_max=cfg.batch_max,
                batch_s=cfg.batch_s,
                regap_s=cfg.regap_s,
                gate=self.gate,
                silence=self.silence,
            )
            async with trio.open_nursery() as outer:
                await outer.start(self.writer.run)
                async with writer_send, bf_send:
                    self._resumed = [*resume.gap_requests, *resume.cold_starts]
                    if closing:  # after their resumed gaps: the head check opens the tail
                        self._resumed.append(HeadCheck(tuple(closing), reason="closeout"))
                    await self._run_producers(
                        rest, trading, writer_send, bf_send, bf_recv, task_status
                    )
                # producers gone and every channel clone closed: the writer drains, flushes

    async def _run_producers(
        self,
        rest: RestClient,
        trading: Sequence[str],
        writer_send: trio.MemorySendChannel[WriterInput],
        bf_send: trio.MemorySendChannel[BackfillInput],
        bf_recv: trio.MemoryReceiveChannel[BackfillInput],
        task_status: trio.TaskStatus[None],
    ) -> None:
        cfg, source, t = self.cfg, self.source, self.telemetry
        limits = source.limits
        self._bf_send = bf_send
        self._rest = rest
        with trio.CancelScope() as scope:
            self._producers = scope
            if self._stop_requested:
                scope.cancel()
            async with trio.open_nursery() as n:
                self.backfill = Backfill(
                    source,
                    rest,
                    bf_recv,
                    writer_send.clone(),
                    t,
                    gate=self.gate,
                    on_head=self.endpoints.head_seen,
                )
                await n.start(self.backfill.run)
                for req in self._resumed:  # gaps a previous run left open
                    await bf_send.send(req)
                self.pool = pool = ShardPool(
                    source,
                    self.ws_url,
                    writer_send,
                    t,
                    per_connection=(
                        cfg.max_streams_per_connection or limits.max_streams_per_connection
                    ),
                    stall_timeout_s=cfg.stall_timeout_s,
                    rotate_after_s=cfg.rotate_after_s,
                    ws_client=ws_client_kind(cfg.ws_client),
                    overload_hold_s=cfg.overload_hold_s,
                )
                await pool.add(n, trading)
                n.start_soon(self._save_samples)
                n.start_soon(self.endpoints.run)
                n.start_soon(self._gauges)
                if cfg.sweep:
                    n.start_soon(self._sweep, bf_send.clone())
                if self.silence is not None:
                    await n.start(
                        silence_checks, self.silence, lambda: self.subscribed, bf_send.clone()
                    )
                if cfg.listing_poll_s > 0:
                    sync = ListingSync(
                        source,
                        rest,
                        pool,
                        self.infos,
                        self.wanted,
                        self._save_infos,
                        self._mark_delisted,
                        self.request_backfill,
                        t,
                    )
                    n.start_soon(sync.run, cfg.listing_poll_s, n)
                log.info(
                    "live: %d symbols on %d connection%s (%s)",
                    len(trading),
                    len(self.shards),
                    "" if len(self.shards) == 1 else "s",
                    self.ws_url,
                )
                task_status.started()

    async def _sweep(self, send: trio.MemorySendChannel[BackfillInput]) -> None:
        """The slow periodic head check (tail gaps of quiet symbols); the first pass is
        the one every connection makes when it goes live, so wait one interval."""
        limits = self.source.limits
        weight_limit = self._rest.weight_share if self._rest else limits.rest_weight_per_minute
        fraction = self.cfg.rest_weight_fraction
        await trio.sleep(sweep_interval(len(self.subscribed), weight_limit, fraction))
        await sweeper(
            lambda: self.subscribed,
            send,
            weight_limit=weight_limit,
            target_fraction=fraction,
            head_weight=limits.agg_trades_weight,
        )

    async def _save_infos(self, infos: Sequence[SymbolInfo]) -> None:
        await self.worker.run_retrying(
            write_infos, self.redis, self.ks, infos, self.source.name, now_ms()
        )

    async def _mark_delisted(self, symbols: Sequence[str]) -> None:
        await self.worker.run(
            mark_delisted, self.redis, self.ks, symbols, self.source.name, now_ms()
        )

    async def _discover(self, rest: RestClient) -> list[SymbolInfo]:
        try:
            body = await fetch_exchange_info(rest, self.source)
        except ExchangeUnavailable as exc:
            raise ExchangeUnavailable(
                f"cannot reach the exchange REST API at {self.rest_url} ({exc}); "
                f"offline? try `{command('run --simulate')}`"
            ) from exc
        try:
            infos = self.source.parse_exchange_info(body)
        except ExchangeRejected as exc:  # an HTML page, cut-off JSON: not the exchange's word
            raise ExchangeUnavailable(
                f"{exc} (from {self.rest_url}): not a Binance exchangeInfo answer; "
                "a proxy or CDN page? check --rest-url, or retry later"
            ) from exc
        limit = self.source.parse_weight_limit(body)
        if limit is not None and limit != rest.weight_limit:
            log.info("REST weight limit: %d/min (advertised by the exchange)", limit)
            rest.set_weight_limit(limit)
        if self.cfg.symbols:
            known = {i.symbol for i in infos}
            unknown = [s for s in self.cfg.symbols if s not in known]
            if len(unknown) == len(self.cfg.symbols):
                close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise UsageError(
                    f"none of {', '.join(unknown)} is listed on {self.source.name}{hint}"
                )
            if unknown:
                log.warning("not listed on %s, ignored: %s", self.source.name, ", ".join(unknown))
        listed, infos = infos, self.wanted(infos)
        self.infos.clear()  # the listing sync keeps this dict current
        self.infos.update({i.symbol: i for i in infos})
        if self.claim is not None:  # the exchange answered: now we may claim the keyspace
            await self._claim(self.claim, body)
        await self._save_infos(infos)
        await self._find_closeout(listed)
        return infos

    async def _claim(self, how: StoreClaim, body: bytes) -> None:
        instance = self.source.simulator_id(body)
        origin = EXCHANGE if instance is None else simulator(instance)
        me = self.cfg.ingester_id
        plan = await self.worker.run_retrying(
            partial(plan_claim, self.redis, self.ks, origin, me=me)
        )
        if plan.deletes is not None and not how.replace:
            place = where(self.ks)
            yes = False
            if how.confirm is not None:
                with trio.CancelScope() as self._asking:  # a stop signal means no
                    if self._stop_requested:
                        self._asking.cancel()
                    ask = partial(how.confirm, plan.question(place))
                    yes = await trio.to_thread.run_sync(ask, abandon_on_cancel=True)
                self._asking = None
            if not yes:
                raise plan.refusal(place)
        await self.worker.run_retrying(partial(apply_claim, self.redis, self.ks, plan, me=me))

    async def _find_closeout(self, listed: list[SymbolInfo]) -> None:
        """Held symbols that left TRADING while no run recorded them (pipeline/closeout.py)."""
        found = await self.worker.run(find_closeout, self.redis, self.ks, listed, self.cfg.symbols)
        await self._mark_delisted(found.delisted)
        if found.symbols:
            log.info(
                "closing out %d symbol%s no longer TRADING (final head check and fill): %s",
                len(found.symbols),
                "" if len(found.symbols) == 1 else "s",
                ", ".join(found.symbols[:10]) + (" ..." if len(found.symbols) > 10 else ""),
            )
        self.closeout = found

    async def _save_samples(self) -> None:
        while True:
            await trio.sleep(5)
            samples = self.pool.drain_malformed() if self.pool is not None else []
            if samples:
                await self.worker.run_retrying(save_malformed, self.redis, self.ks, samples)

    async def _gauges(self) -> None:
        t = self.telemetry
        # its share of a weight pool shared with other markets: they backfill side by side
        weight = (
            self._rest.weight_share if self._rest else self.source.limits.rest_weight_per_minute
        )
        history = HistoryWatch(
            t,
            page_weight=self.source.limits.agg_trades_weight,
            weight_per_minute=weight * self.cfg.rest_weight_fraction,
        )
        while True:
            if self.writer is not None:
                t.channel_depth = self.writer.inbox.statistics().current_buffer_used
                t.silent_symbols = self.writer.processor.silent_symbols()
            if self.backfill is not None:
                t.backfill_queue = self.backfill.pending() + self.backfill.in_flight
            subscribed = self.subscribed
            t.symbols_subscribed = len(subscribed)
            if self.writer is not None and self.backfill is not None:
                w, bf = self.writer, self.backfill
                if history.update(subscribed, w.processor.states, w.heads_seen, bf.heads_empty):
                    took = t.history.took(t.history.complete_after_s or 0.0)
                    log.info("%s", ready_line(len(subscribed), self.source.name, took))
            await trio.sleep(0.5)
