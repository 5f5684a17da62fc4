"""A lean WebSocket client for the shard's hot path, on a plain trio stream.

trio-websocket runs a reader task and hands every message over a memory channel; here
the caller's task reads big chunks and parses them in place (no task, no channel), and
the complete messages wait in a deque. wsproto does the opening handshake and frames what
we send; received frames are sliced by :mod:`wsframes` (wsproto's parser was 95 % of the
receive cost). There is no background task: pings are answered when the caller reads,
so the caller must keep reading (the shard's receive loop never blocks on the writer).
One task reads at a time; any task may send (sends are serialised with a lock). No
extensions are offered (no permessage-deflate); a message above ``max_message_size``
closes the connection (1009) as soon as its frame header announces it.
"""

from __future__ import annotations

import contextlib
import ssl
from collections import deque
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from orders_cli.ws.wsframes import FrameReader, ProtocolViolation

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
MAX_RESPONSE_HEAD = 65536
DEFAULT_PORTS = {"ws": 80, "wss": 443}
ABNORMAL = 1006  # RFC 6455: closed without a close frame (never sent on the wire)
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
        self._ws = WSConnection(ConnectionType.CLIENT)  # handshake, and frames we send
        self._frames = FrameReader(max_message_size)  # frames we receive
        self._close_timeout = close_timeout
        self._receive_size = receive_size
        self._ready: deque[str | bytes] = deque()
        self._send_lock = trio.Lock()
        self._error: WsClosed | None = None  # set once the connection is unusable
        self._broken = False  # a send failed or was cancelled half-way
        self._sent_close = False
        self._receiving = False
        self._closed = False  # aclose() ran (or runs)

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
        await self._absorb(data)

    async def _absorb(self, data: bytes | bytearray) -> None:
        """Parse (no await before the messages are queued: a cancellation loses nothing),
        then pong the pings (with their payload) and answer a close frame."""
        frames = self._frames
        try:
            frames.feed(data if isinstance(data, bytes) else bytes(data), self._ready)
        except ProtocolViolation as exc:
            await self._close_now(exc.code, exc.reason)
            assert self._error is not None
            raise self._error from None
        if frames.pings:
            pings, frames.pings = frames.pings, []
            for payload in pings:
                await self._send_control(Pong(payload=payload))
        if frames.close is not None:
            await self._close_now(*frames.close)

    # -- sending -------------------------------------------------------------------------

    async def send_message(self, message: str | bytes) -> None:
        """Send one text (str) or binary (bytes) message."""
        event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(message)
        async with self._send_lock:
            if self._error is not None or self._broken:
                raise self._error or self._lost("connection broken by an earlier send")
            await self._send_all(self._ws.send(event))

    async def _send_control(self, event: Pong | CloseConnection) -> bool:
        """Send a pong or close frame if the connection still allows it."""
        async with self._send_lock:
            if isinstance(event, CloseConnection):
                if self._sent_close or self._broken:
                    return False
                self._sent_close = True
            elif self._error is not None or self._broken:
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
                await self._send_control(CloseConnection(code=code))
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
        except (WsError, LocalProtocolError, trio.BusyResourceError):
            pass
        finally:
            if self._error is None:
                self._error = WsClosed(code, reason or "closed locally")
            await trio.aclose_forcefully(self._stream)

    async def _await_peer_close(self) -> None:
        """Read (and drop) until the peer's close frame or EOF."""
        if self._receiving:  # another task reads; closing the stream wakes it
            return
        frames = self._frames
        dropped: deque[str | bytes] = deque()
        while frames.close is None:
            try:
                data = await self._stream.receive_some(self._receive_size)
                if not data:
                    return
                frames.feed(bytes(data), dropped)
            except (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolViolation):
                return
            dropped.clear()

    # -- opening handshake ---------------------------------------------------------------

    async def _handshake(self, host: str, target: str) -> None:
        """Send the upgrade request; read the response head and hand it to wsproto; the
        bytes after it are frames (a 101) or the body of a rejection."""
        ws = self._ws
        request = Request(host=host, target=target, extensions=[], subprotocols=[])
        await self._send_all(ws.send(request))
        head = bytearray()
        while True:
            data = await self._receive_handshake()
            head += data
            end = head.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(head) > MAX_RESPONSE_HEAD:
                raise WsHandshakeError(0, f"response head longer than {MAX_RESPONSE_HEAD} bytes")
        rest = bytes(head[end + 4 :])
        try:
            ws.receive_data(bytes(head[: end + 4]))
            events = list(ws.events())
        except RemoteProtocolError as exc:
            raise WsHandshakeError(0, f"bad response: {exc}") from exc
        first = events[0] if events else None
        if isinstance(first, AcceptConnection):
            # frames sent right behind the 101: parse them, answer pings/a close now
            if rest:
                # a close or violation in there: get_message() raises it after the
                # messages before it
                with contextlib.suppress(WsClosed):
                    await self._absorb(rest)
            return
        if isinstance(first, RejectConnection):
            body = await self._rejection_body(first, events[1:], rest)
            raise WsHandshakeError(first.status_code, body)
        raise WsHandshakeError(0, "no status line in the response")

    async def _receive_handshake(self) -> bytes:
        try:
            data = await self._stream.receive_some(self._receive_size)
        except trio.BrokenResourceError as exc:
            raise WsClosed(ABNORMAL, f"connection lost during the handshake: {exc!r}") from exc
        if not data:
            raise WsClosed(ABNORMAL, "connection closed during the opening handshake")
        return bytes(data)

    async def _rejection_body(
        self, event: RejectConnection, events: list[Event], rest: bytes
    ) -> str:
        """Up to BODY_EXCERPT bytes of the rejection's body (until its end or EOF)."""
        body = bytearray()
        ws = self._ws
        data = rest
        done = not event.has_body
        while not done:
            try:
                if data:  # wsproto takes b"" for EOF
                    ws.receive_data(data)
                for item in [*events, *ws.events()]:
                    if isinstance(item, RejectData):
                        body += item.data
                        done = done or item.body_finished
            except RemoteProtocolError:
                break
            events = []
            if done or len(body) >= BODY_EXCERPT:
                break
            try:
                data = await self._receive_handshake()
            except WsClosed:
                break
        return body[:BODY_EXCERPT].decode("utf-8", "replace").strip()


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
