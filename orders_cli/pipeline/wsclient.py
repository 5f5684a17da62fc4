"""A lean WebSocket client for the shard's hot path: wsproto on a trio stream.

trio-websocket runs a reader task and hands every message over a memory channel (about
19 µs per message on loopback, perf-measurements.md §4); here the caller's task reads big
chunks, feeds wsproto and keeps the complete messages in a deque (about 8 µs). There is
no background task: pings are answered when the caller reads, so the caller must keep
reading (the shard's receive loop never blocks on the writer). One task reads at a time;
any task may send (sends are serialised with a lock). No extensions are offered (no
permessage-deflate); messages above ``max_message_size`` close the connection (1009).
"""

from __future__ import annotations

import ssl
from collections import deque
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_MESSAGE_SIZE",
    "WsClient",
    "WsClosed",
    "WsConnectTimeout",
    "WsError",
    "WsHandshakeError",
    "connect",
]

RECEIVE_SIZE = 65536
MAX_MESSAGE_SIZE = 1 << 20
CLOSE_TIMEOUT = 2.0
BODY_EXCERPT = 512
DEFAULT_PORTS = {"ws": 80, "wss": 443}
ABNORMAL = 1006  # RFC 6455: closed without a close frame (never sent on the wire)
TOO_BIG = 1009
TLS_FAILED = 1015


class WsError(Exception):
    """Base of this client's errors: the connection is unusable."""


class WsHandshakeError(WsError):
    """The server answered the opening handshake with something other than 101."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"WebSocket handshake rejected: HTTP {status}: {body}")
        self.status = status
        self.body = body


class WsClosed(WsError):
    """The connection is closed: by the peer's close frame, a local close, or lost (1006)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(f"WebSocket closed: code {code}" + (f" ({reason})" if reason else ""))
        self.code = code
        self.reason = reason


class WsConnectTimeout(WsError):
    """TCP connect, TLS and the opening handshake did not finish in time."""


class _TooBig(Exception):
    pass


class WsClient:
    """One open client connection (made by :func:`connect`)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        close_timeout: float = CLOSE_TIMEOUT,
        receive_size: int = RECEIVE_SIZE,
    ) -> None:
        self._stream = stream
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._max = max_message_size
        self._close_timeout = close_timeout
        self._receive_size = receive_size
        self._ready: deque[str | bytes] = deque()
        self._parts: list[str | bytes | bytearray] = []
        self._size = 0  # of the message being assembled (characters for text)
        self._pongs: list[bytes] = []
        self._peer_close: CloseConnection | None = None
        self._send_lock = trio.Lock()
        self._error: WsClosed | None = None  # set once the connection is unusable
        self._broken = False  # a send failed or was cancelled half-way
        self._receiving = False
        self._closed = False  # aclose() ran (or runs)
        # opening handshake
        self._accepted = False
        self._reject_status: int | None = None
        self._reject_body = bytearray()
        self._reject_done = False

    # -- receiving -----------------------------------------------------------------------

    async def get_message(self) -> str | bytes:
        """The next complete message; raises :class:`WsClosed` once the connection ends
        (messages that arrived before the close are returned first)."""
        while not self._ready:
            await self._fill()
        return self._ready.popleft()

    async def get_messages(self) -> list[str | bytes]:
        """Every complete message already parsed (at least one), oldest first."""
        while not self._ready:
            await self._fill()
        out = list(self._ready)
        self._ready.clear()
        return out

    async def _fill(self) -> None:
        """Read one chunk, parse it, answer pings and a close frame."""
        if self._error is not None:
            raise self._error
        self._receiving = True
        try:
            data = await self._stream.receive_some(self._receive_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._lost(f"receive failed: {exc!r}") from exc
        finally:
            self._receiving = False
        if not data:
            raise self._lost("connection lost without a close frame")
        try:
            self._absorb(data)
        except _TooBig:
            await self._close_now(TOO_BIG, f"message larger than {self._max} bytes")
            assert self._error is not None
            raise self._error from None
        await self._answer()

    async def _answer(self) -> None:
        """Pong the pings just parsed (with their payload); answer a close frame."""
        if self._pongs:
            pongs, self._pongs = self._pongs, []
            for payload in pongs:
                await self._send_control(Pong(payload=payload))
        close = self._peer_close
        if close is not None:
            await self._close_now(close.code, close.reason)

    def _absorb(self, data: bytes | bytearray) -> None:
        """Feed wsproto; sort its events (no awaits: nothing is lost to a cancellation)."""
        ws = self._ws
        ws.receive_data(data if isinstance(data, bytes) else bytes(data))
        ready = self._ready
        for event in ws.events():
            if isinstance(event, Message):
                if event.message_finished and not self._parts:
                    if len(event.data) > self._max:
                        raise _TooBig
                    ready.append(event.data)
                else:
                    self._assemble(event)
            elif isinstance(event, Ping):
                self._pongs.append(event.payload)
            elif isinstance(event, CloseConnection):
                self._peer_close = event
                return
            elif not isinstance(event, Pong):
                self._handshake_event(event)

    def _assemble(self, event: Message[str] | Message[bytes | bytearray]) -> None:
        self._size += len(event.data)
        if self._size > self._max:
            raise _TooBig
        self._parts.append(event.data)
        if event.message_finished:
            parts, self._parts, self._size = self._parts, [], 0
            if isinstance(event, TextMessage):
                self._ready.append("".join(p for p in parts if isinstance(p, str)))
            else:
                self._ready.append(b"".join(p for p in parts if not isinstance(p, str)))

    # -- sending -------------------------------------------------------------------------

    async def send_message(self, message: str | bytes) -> None:
        """Send one text (str) or binary (bytes) message."""
        event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(message)
        async with self._send_lock:
            if self._broken or self._ws.state is not ConnectionState.OPEN:
                raise self._error or self._lost("connection is closing")
            await self._send_all(self._ws.send(event))

    async def _send_control(self, event: Pong | CloseConnection) -> bool:
        """Send a pong or close frame if the connection still allows it."""
        async with self._send_lock:
            state = self._ws.state
            allowed = state is ConnectionState.OPEN or (
                isinstance(event, CloseConnection) and state is ConnectionState.REMOTE_CLOSING
            )
            if self._broken or not allowed:
                return False
            await self._send_all(self._ws.send(event))
            return True

    async def _send_all(self, data: bytes) -> None:
        done = False
        try:
            await self._stream.send_all(data)
            done = True
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._lost(f"send failed: {exc!r}") from exc
        finally:
            if not done:  # failed or cancelled half-way: the framing is lost
                self._broken = True

    # -- closing -------------------------------------------------------------------------

    def _lost(self, why: str) -> WsClosed:
        """The connection ended without a close handshake (or: the error it ended with)."""
        if self._error is None:
            self._error = WsClosed(ABNORMAL, why)
        return self._error

    async def _close_now(self, code: int, reason: str | None) -> None:
        """Send (or answer) a close frame, remember why, close the stream."""
        if self._error is None:
            self._error = WsClosed(code, reason)
        try:
            with trio.move_on_after(self._close_timeout):
                await self._send_control(CloseConnection(code=code, reason=None))
        except (WsError, LocalProtocolError):
            pass
        finally:
            await trio.aclose_forcefully(self._stream)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close: send a close frame if possible, wait briefly for the peer's, close the
        stream. Idempotent; never raises for an already broken connection."""
        if self._closed:
            return
        self._closed = True
        try:
            with trio.move_on_after(self._close_timeout):
                if await self._send_control(CloseConnection(code=code, reason=reason)):
                    await self._await_peer_close()
        except (WsError, LocalProtocolError, RemoteProtocolError, trio.BusyResourceError):
            pass
        finally:
            if self._error is None:
                self._error = WsClosed(code, reason or "closed locally")
            await trio.aclose_forcefully(self._stream)

    async def _await_peer_close(self) -> None:
        """Read (and drop) until the peer's close frame or EOF."""
        if self._receiving:  # another task reads; closing the stream wakes it
            return
        ws = self._ws
        while ws.state is ConnectionState.LOCAL_CLOSING:
            try:
                data = await self._stream.receive_some(self._receive_size)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            ws.receive_data(bytes(data))
            for event in ws.events():
                if isinstance(event, CloseConnection):
                    return

    # -- opening handshake ---------------------------------------------------------------

    async def _handshake(self, host: str, target: str) -> None:
        request = Request(host=host, target=target, extensions=[], subprotocols=[])
        await self._send_all(self._ws.send(request))
        while not self._accepted:
            try:
                data = await self._stream.receive_some(self._receive_size)
            except trio.BrokenResourceError as exc:
                raise WsClosed(ABNORMAL, f"connection lost during the handshake: {exc!r}") from exc
            if not data:
                if self._reject_status is not None:
                    self._reject_done = True
                    self._raise_rejection()
                raise WsClosed(ABNORMAL, "connection closed during the opening handshake")
            try:
                self._absorb(data)
            except RemoteProtocolError as exc:
                raise WsHandshakeError(self._reject_status or 0, f"bad response: {exc}") from exc
            except _TooBig:
                raise WsClosed(TOO_BIG, "first message too big") from None
            self._raise_rejection()
        # frames that came with the 101 response are parsed already: answer their pings
        # (and a close) now rather than after the next read
        await self._answer()

    def _handshake_event(self, event: Event) -> None:
        if isinstance(event, AcceptConnection):
            self._accepted = True
        elif isinstance(event, RejectConnection):
            self._reject_status = event.status_code
            self._reject_done = not event.has_body
        elif isinstance(event, RejectData):
            room = BODY_EXCERPT - len(self._reject_body)
            self._reject_body += event.data[: max(room, 0)]
            self._reject_done = event.body_finished or room <= len(event.data)

    def _raise_rejection(self) -> None:
        if self._reject_status is not None and self._reject_done:
            body = self._reject_body.decode("utf-8", "replace").strip()
            raise WsHandshakeError(self._reject_status, body)


def _host_header(host: str, port: int, scheme: str) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if DEFAULT_PORTS[scheme] == port else f"{name}:{port}"


async def connect(
    url: str,
    *,
    connect_timeout: float = 15.0,
    close_timeout: float = CLOSE_TIMEOUT,
    max_message_size: int = MAX_MESSAGE_SIZE,
    ssl_context: ssl.SSLContext | None = None,
    receive_size: int = RECEIVE_SIZE,
) -> WsClient:
    """Open ``ws://`` or ``wss://`` ``url`` (path and query sent as they are: the caller
    percent-encodes). Raises :class:`WsHandshakeError` (HTTP status other than 101),
    :class:`WsConnectTimeout`, :class:`WsClosed` (lost during the handshake, 1015 for a
    failed TLS handshake) or :class:`OSError` (DNS, refused)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    host = parts.hostname
    port = parts.port or DEFAULT_PORTS[scheme]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with trio.move_on_after(connect_timeout):
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
        try:
            if scheme == "wss":
                context = ssl_context if ssl_context is not None else ssl.create_default_context()
                tls = trio.SSLStream(stream, context, server_hostname=host, https_compatible=True)
                try:
                    await tls.do_handshake()
                except trio.BrokenResourceError as exc:
                    cause = exc.__cause__ or exc
                    raise WsClosed(TLS_FAILED, f"TLS handshake with {host}: {cause}") from exc
                stream = tls
            client = WsClient(
                stream,
                max_message_size=max_message_size,
                close_timeout=close_timeout,
                receive_size=receive_size,
            )
            await client._handshake(_host_header(host, port, scheme), target)
            return client
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    raise WsConnectTimeout(f"no WebSocket connection to {host}:{port} in {connect_timeout:g}s")
