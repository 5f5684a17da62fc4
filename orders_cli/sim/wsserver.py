"""WebSocket Streams server: routes per market, URL forms, control messages, limits,
batched frame sends."""

from __future__ import annotations

import socket
import struct
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import orjson
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
)
from wsproto import ConnectionType, WSConnection

from orders_cli.sim import control

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import wsproto.events

    from orders_cli.sim.engine import Engine


def ws_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented server text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def parse_path(target: str) -> tuple[bool, list[str]] | None:
    """``/ws[/a[/b]]`` or ``/stream[?streams=a/b]`` -> (combined, stream names); else None.
    Segments without ``@`` (ccxt's ``/ws/0``) are accepted and ignored."""
    parts = urlsplit(target)
    path = unquote(parts.path)
    if path == "/ws" or path.startswith("/ws/"):
        combined, names = False, path[4:].split("/")
    elif path in ("/stream", "/stream/"):
        combined, names = True, []
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            if key == "streams":
                names.extend(unquote(value).split("/"))
    else:
        return None
    return combined, [control.normalize_stream(n) for n in names if "@" in n]


def route(target: str, engines: Sequence[Engine]) -> tuple[Engine, bool, str] | None:
    """(engine, delivers, the target after the route) for a handshake target, else None.

    An optional ``/<market>`` prefix picks one of several markets (the first one also
    owns the bare paths). Then the market's route: USD-M delivers aggTrade only under
    ``/market``; its root and ``/public`` accept connections and subscriptions and stay
    silent (docs/binance.md §1.1). Spot and COIN-M deliver at the root."""
    path, sep, query = target.partition("?")
    engine = engines[0]
    for e in engines:
        prefix = "/" + e.rules.name
        if path.startswith(prefix + "/"):
            engine, path = e, path[len(prefix) :]
            break
    r = engine.rules
    for name, delivers in ((r.ws_route, True), *((x, False) for x in r.silent_routes)):
        if name and not path.startswith(name + "/"):
            continue
        rest = path[len(name) :]
        if rest in ("/ws", "/stream", "/stream/") or rest.startswith("/ws/"):
            return engine, delivers, rest + sep + query
    return None


class _CountingConnection(WebSocketConnection):
    """Counts incoming pings and pongs (they count toward the 5 msgs/s limit)."""

    on_incoming: Any = None

    async def _handle_ping_event(self, event: wsproto.events.Ping) -> None:
        if self.on_incoming is not None:
            self.on_incoming()
        await super()._handle_ping_event(event)

    async def _handle_pong_event(self, event: wsproto.events.Pong) -> None:
        if self.on_incoming is not None:
            self.on_incoming()
        await super()._handle_pong_event(event)


class _Server(WebSocketServer):
    async def _handle_connection(self, stream: trio.abc.Stream) -> None:
        # Same as the library's, with our connection subclass (private API, pinned >=0.11).
        async with trio.open_nursery() as nursery:
            connection = _CountingConnection(
                stream,
                WSConnection(ConnectionType.SERVER),
                message_queue_size=self._message_queue_size,
                max_message_size=self._max_message_size,
                receive_buffer_size=self._receive_buffer_size,
            )
            nursery.start_soon(connection._reader_task)
            with trio.move_on_after(self._connect_timeout) as scope:
                request = await connection._get_request()
            if scope.cancelled_caught:
                nursery.cancel_scope.cancel()
                await stream.aclose()
                return
            try:
                await self._handler(request)
            finally:
                with trio.move_on_after(self._disconnect_timeout):
                    await connection.aclose()


class Client:
    """One accepted connection: subscriptions, outgoing buffer, limits."""

    def __init__(
        self,
        engine: Engine,
        conn: _CountingConnection,
        combined: bool,
        seq: int,
        delivers: bool = True,
    ) -> None:
        self.engine = engine
        self.delivers = delivers
        self.seq = seq
        self.cfg = engine.cfg
        self.conn = conn
        self.combined = combined
        self.streams: dict[str, None] = {}
        self.out: list[bytes] = []
        self.wake = trio.Event()
        self.stalled_until = 0.0
        self.close_code: tuple[int, str] | None = None
        self.aborted = False
        self.scope = trio.CancelScope()
        self.incoming: deque[float] = deque()
        conn.on_incoming = self.count_incoming

    # -- engine side (Subscriber) ----------------------------------------------------------
    def push(self, payload: bytes, wrapped: bytes) -> None:
        if self.stalled_until and trio.current_time() < self.stalled_until:
            self.engine.stats["stalled_frames"] += 1
            return
        self.out.append(wrapped if self.combined else payload)
        if len(self.out) > self.cfg.max_send_backlog:
            self.out.clear()
            self.engine.stats["closed_slow"] += 1
            self.close(1008, "Client too slow")

    def flush(self) -> None:
        self.wake.set()

    def stall(self, seconds: float) -> None:
        self.stalled_until = trio.current_time() + seconds

    def abort(self) -> None:
        """Abrupt TCP abort (RST): SO_LINGER 0 then close, no close frame."""
        stream = self.conn._stream
        sock = getattr(stream, "socket", None)
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        self.aborted = True
        self.scope.cancel()

    # -- helpers ---------------------------------------------------------------------------
    def send_text(self, data: bytes) -> None:
        self.out.append(data)
        self.wake.set()

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = (code, reason)
        self.scope.cancel()

    def count_incoming(self) -> None:
        now = trio.current_time()
        q = self.incoming
        q.append(now)
        while q and q[0] <= now - 1.0:
            q.popleft()
        if len(q) > self.cfg.max_msgs_per_s:
            self.engine.stats["closed_rate"] += 1
            self.close(1008, "Too many requests")

    def add_streams(self, names: list[str]) -> bool:
        new = [n for n in names if n not in self.streams]
        if len(self.streams) + len(new) > self.cfg.max_streams:
            self.engine.stats["closed_streams"] += 1
            self.close(1008, "Too many streams")
            return False
        for n in new:
            self.streams[n] = None
        if self.delivers:
            self.engine.subscribe(self, new)
        return True

    # -- tasks -----------------------------------------------------------------------------
    async def guard(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run one connection task; the peer going away ends the whole connection."""
        try:
            await task()
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            self.scope.cancel()

    async def sender(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = trio.Event()
            await self.drain()

    async def drain(self) -> None:
        """Send everything buffered as one write (replies before a close, too)."""
        if not self.out:
            return
        batch, self.out = self.out, []
        data = b"".join([ws_frame(p) for p in batch])
        conn = self.conn
        # Bypass per-message wsproto encoding: one send_all per batch (private API).
        # Shielded: a write cut in half by a cancel would corrupt the frame stream.
        try:
            with trio.CancelScope(shield=True), trio.move_on_after(10) as timeout:
                async with conn._stream_lock:
                    await conn._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ConnectionClosed(None) from None
        if timeout.cancelled_caught:  # the peer stopped reading: reset it
            self.engine.stats["closed_slow"] += 1
            self.abort()
            return
        self.engine.stats["frames_sent"] += len(batch)

    async def reader(self) -> None:
        while True:
            message = await self.conn.get_message()
            self.count_incoming()
            if self.close_code is not None:
                return
            self.handle(message)

    def handle(self, message: str | bytes) -> None:
        cmd = control.parse(message)
        if isinstance(cmd, control.ControlError):
            self.engine.stats["control_errors"] += 1
            self.send_text(cmd.encode())
            return
        self.engine.stats[f"control:{cmd.method}"] += 1
        if cmd.method == "SUBSCRIBE":
            if not self.add_streams([control.normalize_stream(n) for n in cmd.params]):
                return
            self.send_text(control.reply(None, cmd.id))
        elif cmd.method == "UNSUBSCRIBE":
            names = [control.normalize_stream(n) for n in cmd.params]
            for n in names:
                self.streams.pop(n, None)
            self.engine.unsubscribe(self, names)
            self.send_text(control.reply(None, cmd.id))
        elif cmd.method == "LIST_SUBSCRIPTIONS":
            self.send_text(control.reply(list(self.streams), cmd.id))
        elif cmd.method == "SET_PROPERTY":
            self.combined = bool(cmd.params[1])
            self.send_text(control.reply(None, cmd.id))
        else:
            self.send_text(control.reply(self.combined, cmd.id))

    async def pinger(self) -> None:
        n = 0
        while True:
            await trio.sleep(self.cfg.ping_interval_s)
            n += 1
            self.engine.stats["pings_sent"] += 1
            with trio.move_on_after(self.cfg.pong_timeout_s) as scope:
                await self.conn.ping(f"p{n}".encode())
            if scope.cancelled_caught:
                self.engine.stats["closed_pong"] += 1
                self.close(1008, "Pong timeout")
                return

    async def lifetime(self) -> None:
        cfg = self.cfg
        await trio.sleep(max(0.0, cfg.lifetime_s - cfg.shutdown_lead_s))
        if not self.engine.rules.futures:  # documented on spot only (§1.5)
            event = {"e": "serverShutdown", "E": self.engine.now_ms()}
            body = {"stream": "!serverShutdown", "data": event} if self.combined else event
            self.send_text(orjson.dumps(body))
        await trio.sleep(min(cfg.shutdown_lead_s, cfg.lifetime_s))
        self.engine.stats["closed_lifetime"] += 1
        self.close(1001, "Connection lifetime exceeded")


class WsGateway:
    """Accepts handshakes (with the per-IP attempt limit) and runs one Client each, on
    the engine of the market the path routes to (``route``)."""

    def __init__(self, engines: Sequence[Engine]) -> None:
        self.engines = list(engines)
        self.engine = self.engines[0]
        self.attempts: dict[str, deque[float]] = {}
        self.clients: set[Client] = set()

    def _allow(self, ip: str) -> bool:
        cfg = self.engine.cfg
        now = trio.current_time()
        q = self.attempts.setdefault(ip, deque())
        q.append(now)
        while q and q[0] <= now - cfg.connect_window_s:
            q.popleft()
        return len(q) <= cfg.max_connect_attempts

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        server = _Server(self.handle, listeners, connect_timeout=10, disconnect_timeout=2)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            task_status.started()

    async def handle(self, request: WebSocketRequest) -> None:
        """One handshake; a peer that vanishes mid-way ends only its own connection."""
        try:
            await self._handle(request)
        except ConnectionClosed:
            self.engine.stats["ws_vanished"] += 1

    async def _handle(self, request: WebSocketRequest) -> None:
        stats = self.engine.stats
        remote = request.remote
        ip = getattr(remote, "address", str(remote))
        if not self._allow(str(ip)):
            stats["ws_rejected_429"] += 1
            await request.reject(429, body=b'{"code":-1003,"msg":"Too many connection attempts."}')
            return
        routed = route(request.path, self.engines)
        parsed = None if routed is None else parse_path(routed[2])
        if routed is None or parsed is None:
            stats["ws_rejected_404"] += 1
            await request.reject(404, body=b"Not Found")
            return
        engine, delivers, _ = routed
        combined, names = parsed
        conn = await request.accept()
        assert isinstance(conn, _CountingConnection)
        if not delivers:
            stats["ws_silent_route"] += 1
        client = Client(engine, conn, combined, stats["ws_connections"], delivers)
        stats["ws_connections"] += 1
        stats["ws_open"] += 1
        self.clients.add(client)
        try:
            with client.scope:
                if client.add_streams(names):
                    async with trio.open_nursery() as nursery:
                        for task in (client.sender, client.reader, client.pinger, client.lifetime):
                            nursery.start_soon(client.guard, task)
        finally:
            self.clients.discard(client)
            stats["ws_open"] -= 1
            engine.unsubscribe(client, list(client.streams))
        if client.close_code is not None and not client.aborted:
            with trio.move_on_after(2):
                await client.drain()
                await conn.aclose(*client.close_code)


__all__ = ["Client", "WsGateway", "parse_path", "route", "ws_frame"]
