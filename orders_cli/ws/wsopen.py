"""The shard's choice of WebSocket client, behind one small interface (:class:`WsConn`)
and one error vocabulary (:mod:`wsclient`'s ``WsClosed``, ``WsHandshakeError``,
``WsConnectTimeout``).

``wsproto`` (default) is our lean client (:mod:`wsclient`): no reader task, messages
parsed in the caller's task. ``trio-websocket`` stays a user option (``--ws-client
trio-websocket``): the customer's design card names it as the WebSocket library, it is a
maintained, independent implementation to fall back on if ours misbehaves against the
exchange, and the transport contract suite (tests/pipeline/test_ws_transport.py) runs
every case over both, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import ssl
from typing import Literal, NoReturn, Protocol

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    connect_websocket_url,
)

from orders_cli.errors import leaves
from orders_cli.ws import wsclient
from orders_cli.ws.wsclient import WsClosed, WsConnectTimeout, WsHandshakeError

WsClientKind = Literal["wsproto", "trio-websocket"]
WS_CLIENTS: tuple[WsClientKind, ...] = ("wsproto", "trio-websocket")
DEFAULT_WS_CLIENT: WsClientKind = "wsproto"
# frames trio-websocket may buffer between its reader task and our receive loop
TW_QUEUE = 64


def ws_client_kind(name: str) -> WsClientKind:
    """``name`` checked against :data:`WS_CLIENTS` (ValueError otherwise)."""
    for kind in WS_CLIENTS:
        if name == kind:
            return kind
    raise ValueError(f"unknown WebSocket client {name!r}; use one of {', '.join(WS_CLIENTS)}")


class WsConn(Protocol):
    """What the shard needs of a connection."""

    async def get_messages(self) -> list[str | bytes]:
        """At least one message: every one already received, oldest first."""
        ...

    async def send_message(self, message: str) -> None: ...

    async def aclose(self, code: int = 1000) -> None: ...


def _closed(exc: ConnectionClosed) -> NoReturn:
    reason = exc.reason
    if reason is None:
        raise WsClosed(wsclient.ABNORMAL) from exc
    raise WsClosed(reason.code, reason.reason) from exc


class TrioWebsocketConn:
    """trio-websocket behind :class:`WsConn` (one message per ``get_messages``)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws

    async def get_messages(self) -> list[str | bytes]:
        try:
            return [await self.ws.get_message()]
        except ConnectionClosed as exc:
            _closed(exc)

    async def send_message(self, message: str) -> None:
        try:
            await self.ws.send_message(message)
        except ConnectionClosed as exc:
            _closed(exc)

    async def aclose(self, code: int = 1000) -> None:
        await self.ws.aclose(code)


async def open_ws(
    kind: WsClientKind,
    nursery: trio.Nursery,
    url: str,
    *,
    connect_timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> WsConn:
    """Connect with the chosen client (``ssl_context``: for ``wss://``, default: the
    system's trust store). trio-websocket's reader task runs in ``nursery``; the wsproto
    client has none (``nursery`` is unused)."""
    if kind == "wsproto":
        return await wsclient.connect(url, connect_timeout=connect_timeout, ssl_context=ssl_context)
    ws_client_kind(kind)
    try:
        with trio.fail_after(connect_timeout):
            conn: TrioWebsocketConn = await nursery.start(_trio_websocket, url, ssl_context)
    except trio.TooSlowError:
        raise WsConnectTimeout(f"no WebSocket to {url} within {connect_timeout:g}s") from None
    return conn


async def _trio_websocket(
    url: str,
    ssl_context: ssl.SSLContext | None,
    *,
    task_status: trio.TaskStatus[TrioWebsocketConn] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A trio-websocket connection and its reader task. trio-websocket raises a refused
    or failed handshake in that task; mapped to :mod:`wsclient`'s errors here, they reach
    the caller of ``start`` (until the connection is open) as one error."""
    try:
        async with trio.open_nursery() as inner:
            ws = await connect_websocket_url(inner, url, ssl_context, message_queue_size=TW_QUEUE)
            task_status.started(TrioWebsocketConn(ws))
    except BaseExceptionGroup as group:
        ours, rest = group.split((HandshakeError, ConnectionClosed))
        if ours is None or rest is not None:
            raise
        _mapped(next(leaves(ours)))


def _mapped(exc: BaseException) -> NoReturn:
    if isinstance(exc, ConnectionRejected):
        body = (exc.body or b"")[: wsclient.BODY_EXCERPT].decode("utf-8", "replace").strip()
        raise WsHandshakeError(exc.status_code, body) from exc
    if isinstance(exc, ConnectionClosed):
        _closed(exc)
    raise WsHandshakeError(0, repr(exc)) from exc
