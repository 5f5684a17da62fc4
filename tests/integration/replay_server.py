"""A tiny Binance look-alike that is NOT our simulator: it replays recorded WebSocket
frames byte for byte and answers the two REST calls an ingester needs.

- WebSocket (trio-websocket): ``/stream?streams=a/b`` plus ``SUBSCRIBE`` / ``UNSUBSCRIBE``
  (``{"result":null,"id":N}`` replies). Once every stream of the recording is subscribed,
  each recorded line is sent, in file order, as one text frame (the line without its
  newline, unchanged). Replayed once per server.
- REST (h11): ``/api/v3/exchangeInfo`` lists the recording's symbols as TRADING,
  ``/api/v3/aggTrades`` returns ``[]``; anything else is a 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

import attrs
import h11
import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

QUOTES = ("USDT", "BUSD", "USDC", "TRY", "BRL", "AUD", "BTC", "ETH", "BNB")


@attrs.frozen
class Frame:
    """One recorded text frame: its exact bytes and the parsed ``data`` object."""

    raw: bytes
    stream: str
    data: dict[str, object]


def load_frames(path: str | Path) -> list[Frame]:
    out = []
    for line in Path(path).read_bytes().splitlines():
        if not line:
            continue
        obj = orjson.loads(line)
        out.append(Frame(line, obj["stream"], obj["data"]))
    return out


def _symbol_object(symbol: str) -> dict[str, object]:
    quote = next((q for q in QUOTES if symbol.endswith(q) and symbol != q), "USDT")
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": symbol[: -len(quote)],
        "quoteAsset": quote,
        "permissions": ["SPOT"],
    }


class ReplayServer:
    """``await nursery.start(server.serve)``; then ``ws_url`` / ``rest_url`` are set.
    ``replayed`` is set once every frame was handed to the socket."""

    def __init__(self, frames: Sequence[Frame]) -> None:
        self.frames = list(frames)
        self.streams = frozenset(f.stream for f in self.frames)
        self.symbols = sorted({str(f.data["s"]) for f in self.frames})
        self.stats: Counter[str] = Counter()
        self.replayed = trio.Event()
        self.ws_url = ""
        self.rest_url = ""
        self._started_replay = False

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as n:
            ws = await n.start(serve_websocket, self._ws_handler, "127.0.0.1", 0, None)
            self.ws_url = f"ws://127.0.0.1:{ws.port}"
            listeners = await n.start(
                partial(trio.serve_tcp, self._http_handler, 0, host="127.0.0.1")
            )
            self.rest_url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
            task_status.started()

    # -- WebSocket ---------------------------------------------------------------------
    async def _ws_handler(self, request: WebSocketRequest) -> None:
        parts = urlsplit(request.path)
        if parts.path.rstrip("/") != "/stream":
            await request.reject(404)
            return
        self.stats["ws_connections"] += 1
        conn = await request.accept()
        subscribed: set[str] = set()
        for key, _, value in (p.partition("=") for p in parts.query.split("&") if p):
            if key == "streams":
                subscribed.update(unquote(s) for s in value.split("/") if s)
        ready = trio.Event()
        try:
            async with trio.open_nursery() as n:
                n.start_soon(self._replay, conn, subscribed, ready)
                while True:
                    if self.streams <= subscribed:
                        ready.set()
                    msg = orjson.loads(await conn.get_message())
                    self.stats[f"control:{msg['method']}"] += 1
                    if msg["method"] == "SUBSCRIBE":
                        subscribed.update(msg["params"])
                    elif msg["method"] == "UNSUBSCRIBE":
                        subscribed.difference_update(msg["params"])
                    await conn.send_message(
                        orjson.dumps({"result": None, "id": msg["id"]}).decode()
                    )
        except* ConnectionClosed:
            pass

    async def _replay(
        self, conn: WebSocketConnection, subscribed: set[str], ready: trio.Event
    ) -> None:
        await ready.wait()
        if self._started_replay:
            return
        self._started_replay = True
        for frame in self.frames:
            if frame.stream in subscribed:
                # decoding valid UTF-8 and re-encoding it gives back the same bytes
                await conn.send_message(frame.raw.decode("utf-8"))
                self.stats["frames_sent"] += 1
        self.replayed.set()

    # -- REST --------------------------------------------------------------------------
    async def _http_handler(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        status, body = 500, b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    conn.receive_data(data)
                    if not data:
                        return
                    continue
                if isinstance(event, h11.Request):
                    status, body = self._route(event.target.decode())
                elif isinstance(event, h11.EndOfMessage):
                    headers = [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                    ]
                    out = conn.send(h11.Response(status_code=status, headers=headers))
                    out = (out or b"") + (conn.send(h11.Data(data=body)) or b"")
                    out += conn.send(h11.EndOfMessage()) or b""
                    await stream.send_all(out)
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, h11.RemoteProtocolError):
            return
        finally:
            await stream.aclose()

    def _route(self, target: str) -> tuple[int, bytes]:
        path = urlsplit(target).path
        self.stats[f"rest:{path}"] += 1
        if path == "/api/v3/exchangeInfo":
            body = {
                "timezone": "UTC",
                "serverTime": 0,
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": [_symbol_object(s) for s in self.symbols],
            }
            return 200, orjson.dumps(body)
        if path == "/api/v3/aggTrades":
            return 200, b"[]"
        return 404, b'{"code":-1000,"msg":"Not found."}'


async def wait_for(predicate: Callable[[], bool], interval: float = 0.05) -> None:
    """Poll ``predicate`` until it holds (callers bound this with ``trio.fail_after``)."""
    while True:
        if predicate():
            return
        await trio.sleep(interval)
