"""The shard's choice of WebSocket client: the lean wsproto one (default) or trio-websocket
(the fallback), behind one small interface."""

from __future__ import annotations

from typing import Literal, Protocol

import trio
from trio_websocket import ConnectionTimeout, WebSocketConnection, connect_websocket_url

from orders_cli.pipeline import wsclient

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


class TrioWebsocketConn:
    """trio-websocket behind :class:`WsConn` (one message per ``get_messages``)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws

    async def get_messages(self) -> list[str | bytes]:
        return [await self.ws.get_message()]

    async def send_message(self, message: str) -> None:
        await self.ws.send_message(message)

    async def aclose(self, code: int = 1000) -> None:
        await self.ws.aclose(code)


async def open_ws(
    kind: WsClientKind, nursery: trio.Nursery, url: str, *, connect_timeout: float
) -> WsConn:
    """Connect with the chosen client. trio-websocket's reader task runs in ``nursery``;
    the wsproto client has none (``nursery`` is unused)."""
    if kind == "wsproto":
        return await wsclient.connect(url, connect_timeout=connect_timeout)
    ws_client_kind(kind)
    try:
        with trio.fail_after(connect_timeout):
            ws = await connect_websocket_url(nursery, url, message_queue_size=TW_QUEUE)
    except trio.TooSlowError:
        raise ConnectionTimeout() from None
    return TrioWebsocketConn(ws)
