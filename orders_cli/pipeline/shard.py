"""One shard: a supervised WebSocket connection carrying a fixed set of streams.

connect (streams in the URL) -> SUBSCRIBE the rest (paced) -> receive forever; reconnect
with backoff on network errors and stalls; rotate with overlap before the exchange's
connection lifetime ends or when it announces a shutdown. The reader never blocks on
``out``: when the writer is slow, trades are dropped, counted and reported as ``Dropped``
so the writer records a gap (backfilled later) while pings keep being answered.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

import trio

from orders_cli.config import OVERLOAD_HOLD_S
from orders_cli.errors import leaves
from orders_cli.messages import ShardEvent, WriterInput
from orders_cli.models import ControlReply, Ignored, Rejection, ServerShutdown, Trade
from orders_cli.pipeline.clockwatch import ClockWatch
from orders_cli.pipeline.connect_budget import ConnectBudget
from orders_cli.pipeline.control import control_streams
from orders_cli.pipeline.link import (
    RECONNECTABLE,
    Link,
    ShardStalled,
    SilenceGauge,
    SilentEndpoint,
    cancel_when_cancelled,
    handshake_url,
)
from orders_cli.pipeline.outport import OutPort, OutputClosed
from orders_cli.pipeline.pacing import MessagePacer
from orders_cli.pipeline.rotation import RotationPlan
from orders_cli.retry import Backoff
from orders_cli.sources.base import Source
from orders_cli.telemetry import ConnectionState, Telemetry
from orders_cli.ws.wsopen import DEFAULT_WS_CLIENT, WsClientKind, open_ws

__all__ = ["RECONNECTABLE", "OutputClosed", "Shard", "ShardStalled"]

log = logging.getLogger(__name__)

MALFORMED_SAMPLES = 20
MALFORMED_SAMPLE_CHARS = 512
REJECT_UNSUBSCRIBED = "unsubscribed_symbol"  # a trade of a symbol this connection never asked for
# a connection that stayed live this long was a success: the next failure backs off
# from the start again (a server that accepts and drops at once keeps backing off)
HEALTHY_AFTER_S = 30.0


class Shard:
    """A supervised connection for ``streams``; trades go to ``out`` (never blocking)."""

    def __init__(
        self,
        name: str,
        source: Source,
        ws_base: str,
        streams: list[str],
        out: trio.MemorySendChannel[WriterInput],
        telemetry: Telemetry,
        budget: ConnectBudget,
        *,
        stall_timeout: float = 60.0,
        rotate_after: float | None = None,
        url_stream_limit: int = 200,
        rng: random.Random | None = None,
        subscribe_batch: int = 200,
        connect_timeout: float = 15.0,
        reply_timeout: float = 10.0,
        close_timeout: float = 3.0,
        overlap_timeout: float = 10.0,
        backoff: Backoff | None = None,
        healthy_after: float = HEALTHY_AFTER_S,
        ws_client: WsClientKind = DEFAULT_WS_CLIENT,
        clock_watch: ClockWatch | None = None,
        overload_hold_s: float = OVERLOAD_HOLD_S,
    ) -> None:
        self.name = name
        self.source = source
        self.ws_base = ws_base
        self.out = out
        self.telemetry = telemetry
        self.budget = budget
        self.stall_timeout = stall_timeout
        self.silence = SilenceGauge(stall_timeout)
        self.url_stream_limit = url_stream_limit
        self.subscribe_batch = subscribe_batch
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.close_timeout = close_timeout
        self.overlap_timeout = overlap_timeout
        self.healthy_after = healthy_after
        self.ws_client = ws_client
        self._rng = rng if rng is not None else random.Random()
        self.backoff = backoff if backoff is not None else Backoff(rng=self._rng)
        self.clock = clock_watch if clock_watch is not None else ClockWatch()
        self.rotation = RotationPlan.for_source(source.limits, rotate_after, rng=self._rng)
        self.malformed_samples: deque[str] = deque(maxlen=MALFORMED_SAMPLES)
        self._streams: list[str] = []
        self._symbol_set: frozenset[str] = frozenset()
        self._links: list[Link] = []
        self._serial = 0
        self._request_id = 0
        self.port = OutPort(name, out, telemetry, hold_s=overload_hold_s)
        self._live_since: float | None = None
        self.live_at: float | None = None  # the current connection went live (endpoint_watch)
        self.live_trades = 0  # batches of frames carrying its trades since
        self.url = ""  # its handshake URL
        self.conn: ConnectionState = telemetry.connection(name)
        self._set_streams(list(dict.fromkeys(streams)))

    # -- public ------------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        return list(self._streams)

    def symbols(self) -> tuple[str, ...]:
        """Exchange symbols of this shard (uppercase, from ``<symbol>@<type>``)."""
        return tuple(s.split("@", 1)[0].upper() for s in self._streams)

    def carries(self, symbol: str) -> bool:
        return symbol in self._symbol_set

    def declare_silent(self, reason: str) -> None:
        """The live connection delivers nothing (pipeline/endpoint_watch.py): report it
        and reconnect."""
        self.telemetry.count("silent_endpoints")
        self.conn.silent_alarms += 1
        self.conn.silent_alarm = reason
        for link in self._links:
            if link.live and link.watchdog is not None:
                link.alarm = reason
                link.watchdog.cancel()

    def _went_live(self, link: Link) -> None:
        self.live_at, self.live_trades, self.url = trio.current_time(), 0, link.url

    def _set_streams(self, streams: list[str]) -> None:
        self._streams = streams
        self._symbol_set = frozenset(self.symbols())
        self.conn.streams = len(streams)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run forever: ``started()`` once the first connection is live."""
        started = False

        def on_live() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.port.report_drops)
                while True:
                    error: BaseException | None = None
                    try:
                        await self._session(on_live)
                    except* RECONNECTABLE as group:
                        error = next(leaves(group))
                    await self._after_disconnect(error)
        finally:
            self.conn.set("closed")

    async def add_streams(self, streams: Sequence[str]) -> None:
        """Subscribe ``streams`` live on every open connection (paced)."""
        new = [s for s in dict.fromkeys(streams) if s not in self._streams]
        if not new:
            return
        self._set_streams([*self._streams, *new])
        for link in list(self._links):
            if link.live:
                await self._live_control(link, new, subscribe=True)

    async def remove_streams(self, streams: Sequence[str]) -> None:
        """Unsubscribe ``streams`` live on every open connection (paced)."""
        gone = set(streams)
        self._set_streams([s for s in self._streams if s not in gone])
        for link in list(self._links):
            if link.live:
                here = [s for s in streams if s in link.streams]
                if here:
                    await self._live_control(link, here, subscribe=False)

    async def _live_control(self, link: Link, streams: Sequence[str], *, subscribe: bool) -> None:
        """Control request from a caller's task: a connection that dies meanwhile is the
        shard's business (it reconnects with the current streams), not the caller's."""
        try:
            await self._control(link, streams, subscribe=subscribe)
        except RECONNECTABLE as exc:
            log.info(
                "shard %s: connection #%d lost during a live change: %r",
                self.name,
                link.serial,
                exc,
            )

    # -- supervision -----------------------------------------------------------------

    async def _after_disconnect(self, error: BaseException | None) -> None:
        now = trio.current_time()
        if self._live_since is not None and now - self._live_since >= self.healthy_after:
            self.backoff.reset()
        self._live_since = self.live_at = None
        stalled = isinstance(error, ShardStalled)
        text = f"{type(error).__name__}: {error}" if error is not None else "closed"
        log.warning("shard %s: connection lost (%s)", self.name, text)
        self.conn.reconnects += 1
        silent = isinstance(error, SilentEndpoint)
        self.conn.set("stalled" if stalled else "silent" if silent else "backoff", error=text)
        self.telemetry.count("shard_stalls" if stalled else "shard_disconnects")
        await self.port.emit(ShardEvent(self.name, "stalled" if stalled else "disconnected"))
        # the state stays "stalled"/"backoff" until the next attempt starts
        await trio.sleep(self.backoff.next())

    async def _session(self, on_live: Callable[[], None]) -> None:
        """One connection and its successors by rotation; returns only by raising."""
        async with trio.open_nursery() as nursery:
            link: Link = await nursery.start(self._run_link)
            self.conn.set("live")
            self._live_since = trio.current_time()
            self._went_live(link)
            await self.port.emit(ShardEvent(self.name, "connected", self.symbols()))
            on_live()
            while True:
                with trio.move_on_at(link.rotate_at):
                    await link.shutdown.wait()
                link = await self._rotate(nursery, link)

    async def _rotate(self, nursery: trio.Nursery, old: Link) -> Link:
        """Open the replacement, wait for its first frame, then close ``old``."""
        reason = "shutdown" if old.shutdown.is_set() else "age"
        log.info("shard %s: rotating connection #%d (%s)", self.name, old.serial, reason)
        # the old link may die during the overlap (a shutdown): that is no longer fatal
        old.retiring = True
        new: Link | None = None
        failure: BaseException | None = None
        try:
            new = await nursery.start(self._run_link)
        except* RECONNECTABLE as group:
            failure = next(leaves(group))
        if new is None:
            self.telemetry.count("rotation_failures")
            self.conn.set("live", error=f"rotation failed: {failure!r}")
            if old.finished:
                assert failure is not None
                raise failure
            old.retiring = False
            # retry after a backoff delay; the old connection keeps serving meanwhile
            old.shutdown = trio.Event()
            old.rotate_at = trio.current_time() + self.backoff.next()
            return old
        # the old connection died before the new one was live: frames in between are lost,
        # so tell the writer to check the heads, exactly as after a reconnect
        kind = "connected" if old.finished else "rotated"
        with trio.move_on_after(self.overlap_timeout):
            await new.first_message.wait()
        old.scope.cancel()
        self._went_live(new)
        self.telemetry.count("rotations")
        self.conn.set("live")
        await self.port.emit(ShardEvent(self.name, kind, self.symbols()))
        return new

    # -- one connection -----------------------------------------------------------------

    async def _run_link(self, *, task_status: trio.TaskStatus[Link]) -> None:
        """Connect, subscribe, ``started(link)``, then receive until error or retirement.

        Outer cancellation does not reach the connection directly: cancelling first unwinds
        our side, which closes with code 1000 while the client can still complete the close
        handshake (trio-websocket's reader task lives in the shielded ``io`` nursery; the
        wsproto client has no task and reads the peer's close inside ``aclose``).
        """
        self._serial += 1
        now = trio.current_time()
        link = Link(serial=self._serial, opened_at=now, rotate_at=now + self.rotation.age())
        self._links.append(link)
        try:
            async with trio.open_nursery() as guard:
                guard.start_soon(cancel_when_cancelled, link.scope)
                with trio.CancelScope(shield=True):
                    async with trio.open_nursery() as io:
                        try:
                            with link.scope:
                                await self._link_body(io, link, task_status)
                        finally:
                            io.cancel_scope.cancel()
                guard.cancel_scope.cancel()
        except* RECONNECTABLE:
            # a retired connection may die quietly, but only once it was started: before
            # that, the caller of nursery.start() must see why it failed
            if not (link.retiring and link.live):
                raise
        finally:
            link.finished = True
            link.live = False
            self._links.remove(link)

    async def _link_body(
        self, io: trio.Nursery, link: Link, task_status: trio.TaskStatus[Link]
    ) -> None:
        await self.budget.acquire()
        url, count = handshake_url(self.source, self.ws_base, self._streams, self.url_stream_limit)
        initial, rest = self._streams[:count], self._streams[count:]
        # during a rotation the shard stays "live" on the old connection
        replacing = any(other.live for other in self._links if other is not link)
        if not replacing:
            self.conn.set("connecting")
        ws = await open_ws(self.ws_client, io, url, connect_timeout=self.connect_timeout)
        link.ws, link.url = ws, url
        link.pacer = MessagePacer.under_limit(self.source.limits.max_messages_per_second)
        link.streams.update(initial)
        try:
            async with trio.open_nursery() as work:
                work.start_soon(self._receive_loop, link)
                if rest:
                    if not replacing:
                        self.conn.set("subscribing")
                    await self._control(link, rest, subscribe=True)
                # streams added while we were subscribing (failed ones are not retried here)
                tried = set(initial) | set(rest)
                missing = [s for s in self._streams if s not in tried]
                if missing:
                    await self._control(link, missing, subscribe=True)
                # and streams removed meanwhile
                wanted = set(self._streams)
                extra = [s for s in link.streams if s not in wanted]
                if extra:
                    await self._control(link, extra, subscribe=False)
                link.live = True
                task_status.started(link)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(self.close_timeout):
                await ws.aclose(1000)

    async def _receive_loop(self, link: Link) -> None:
        """Drain the socket forever (so pings are answered); raise ShardStalled on silence."""
        ws = link.ws
        assert ws is not None
        parse = self.source.parse
        conn = self.conn
        deliver = self.port.deliver
        count = self.telemetry.count
        silence = self.silence
        silence.restart(trio.current_time())
        with trio.CancelScope() as watchdog:
            link.watchdog = watchdog
            while True:
                allowed = silence.allowed()
                watchdog.deadline = trio.current_time() + allowed
                batch = await ws.get_messages()
                silence.arrived(trio.current_time())
                conn.messages += len(batch)
                conn.last_message_monotonic = time.monotonic()
                if not link.first_message.is_set():
                    link.first_message.set()
                delivered = 0
                last: Trade | None = None
                try:
                    for raw in batch:
                        for event in parse(raw):
                            if isinstance(event, Trade) and event.symbol in self._symbol_set:
                                delivered += deliver(event)
                                last = event
                            elif isinstance(event, Trade):
                                self._reject(REJECT_UNSUBSCRIBED, event.symbol, raw)
                            else:
                                self._on_control(link, event, raw)
                finally:
                    # once per batch, not per trade: there is no checkpoint in the loop, so
                    # no other task can see the counter between the two
                    if delivered:
                        count("trades_received", delivered)
                if last is not None:  # once per batch: the host clock against E, and the
                    # endpoint is not silent (trades dropped on overload count too)
                    self.clock.frame(self.name, last.event_time, conn, self.telemetry)
                    self.live_trades += 1
                    conn.silent_alarm = None
        if link.alarm is not None:
            raise SilentEndpoint(link.alarm)
        if watchdog.cancelled_caught:
            silence.silent_for(allowed)
            raise ShardStalled(f"no frame for {allowed:g}s on connection #{link.serial}")

    def _on_control(self, link: Link, event: object, raw: str | bytes) -> None:
        if isinstance(event, ControlReply):
            if not link.on_reply(event):
                self.telemetry.count("control_unmatched")
        elif isinstance(event, Rejection):
            self.telemetry.count("malformed")
            if event.out_of_range:
                self.telemetry.count("out_of_range")
            self._sample(event.reason, raw)
        elif isinstance(event, Ignored):
            self.telemetry.count("ignored")
            self.telemetry.count_labelled("ignored", event.reason)
        elif isinstance(event, ServerShutdown):
            self.telemetry.count("server_shutdown")
            log.info("shard %s: server announced shutdown of #%d", self.name, link.serial)
            # its death is expected now: not a reconnect, the rotation replaces it
            link.retiring = True
            link.shutdown.set()

    def _sample(self, reason: str, raw: str | bytes) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self.malformed_samples.append(f"{reason}: {text[:MALFORMED_SAMPLE_CHARS]}")

    def _reject(self, reason: str, symbol: str, raw: str | bytes) -> None:
        """A well-formed trade this connection must not carry: counted and sampled, never
        stored (a symbol name from the wire reaches Redis keys and archive paths)."""
        self.telemetry.count(f"rejected:{reason}")
        self._sample(f"{reason} {symbol!r}", raw)

    async def _control(self, link: Link, streams: Sequence[str], *, subscribe: bool) -> None:
        """SUBSCRIBE/UNSUBSCRIBE in large paced batches; reply errors are logged, not fatal."""
        await control_streams(
            link,
            self.source,
            streams,
            subscribe=subscribe,
            batch_size=self.subscribe_batch,
            reply_timeout=self.reply_timeout,
            next_id=self._next_request_id,
            telemetry=self.telemetry,
            fail=self._control_failed,
        )

    def _next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    def _control_failed(self, text: str) -> None:
        log.error("shard %s: %s", self.name, text)
        self.telemetry.count("control_errors")
        self.conn.last_error = text
