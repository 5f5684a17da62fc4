"""A tiny Binance-like WebSocket server (trio-websocket, 127.0.0.1 port 0), a minimal
source, and a shard wired to them, for shard tests. Not the project simulator: just
enough to drive one shard."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from urllib.parse import parse_qs, quote, urlsplit

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from orders_cli.messages import ShardEvent, WriterInput
from orders_cli.models import ControlReply, Event, Ignored, Rejection, ServerShutdown, Trade
from orders_cli.pipeline.connect_budget import ConnectBudget
from orders_cli.pipeline.shard import Shard
from orders_cli.retry import Backoff
from orders_cli.sources.base import SourceLimits
from orders_cli.telemetry import Telemetry


class FakeSource:
    """Combined-stream framing (``{"stream", "data"}``), aggTrade only."""

    name = "fake"
    key_prefix = "fake:"
    default_ws_url = "ws://127.0.0.1:1"
    default_rest_url = "http://127.0.0.1:1"

    def __init__(self, limits: SourceLimits | None = None) -> None:
        self.limits = limits or SourceLimits(max_messages_per_second=5.0)

    def stream_name(self, symbol: str) -> str:
        return f"{symbol.lower()}@aggTrade"

    def connect_url(self, ws_base: str, streams: Sequence[str]) -> str:
        if not streams:
            return f"{ws_base}/stream"
        return f"{ws_base}/stream?streams=" + "/".join(quote(s, safe="@") for s in streams)

    def subscribe_message(self, streams: Sequence[str], request_id: int) -> str:
        return json.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": request_id})

    def unsubscribe_message(self, streams: Sequence[str], request_id: int) -> str:
        return json.dumps({"method": "UNSUBSCRIBE", "params": list(streams), "id": request_id})

    def list_subscriptions_message(self, request_id: int) -> str:
        return json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id})

    def parse(self, raw: str | bytes) -> list[Event]:
        try:
            obj = json.loads(raw)
        except ValueError:
            return [Rejection("json", raw if isinstance(raw, str) else raw.decode())]
        if not isinstance(obj, dict):
            return [Rejection("shape", str(raw))]
        if "id" in obj and ("result" in obj or "code" in obj):
            return [ControlReply(obj["id"], obj.get("result"), obj.get("code"), obj.get("msg"))]
        data = obj.get("data", obj)
        kind = data.get("e") if isinstance(data, dict) else None
        if kind == "serverShutdown":
            return [ServerShutdown(int(data["E"]))]
        if kind != "aggTrade":
            return [Ignored(f"event:{kind}")]
        try:
            return [
                Trade(
                    symbol=data["s"],
                    agg_id=int(data["a"]),
                    price=data["p"],
                    quantity=data["q"],
                    first_trade_id=int(data["f"]),
                    last_trade_id=int(data["l"]),
                    trade_time=int(data["T"]),
                    is_buyer_maker=bool(data["m"]),
                    event_time=int(data["E"]),
                )
            ]
        except (KeyError, TypeError, ValueError):
            return [Rejection("fields", str(raw))]


def trade_frame(symbol: str, agg_id: int, t: int = 1_700_000_000_000) -> str:
    data = {
        "e": "aggTrade", "E": t + 1, "s": symbol, "a": agg_id, "p": "1.50", "q": "2.000",
        "f": agg_id * 2, "l": agg_id * 2, "T": t, "m": True, "M": True,
    }  # fmt: skip
    return json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": data})


@attrs.define(eq=False)
class FakeConn:
    """One accepted client connection, as the server sees it."""

    ws: WebSocketConnection
    path: str
    url_streams: list[str]
    received: list[tuple[float, str]] = attrs.field(factory=list)
    subscribed: list[str] = attrs.field(factory=list)
    closed: trio.Event = attrs.field(factory=trio.Event)
    close_code: int | None = None
    pong_latencies: list[float] = attrs.field(factory=list)

    @property
    def streams(self) -> list[str]:
        return self.url_streams + self.subscribed

    async def send(self, frame: str) -> None:
        await self.ws.send_message(frame)

    async def abort(self) -> None:
        """Drop TCP without a close frame (a network failure, as the client sees it)."""
        # private attribute: trio-websocket has no public "abort the TCP stream" call
        await self.ws._stream.aclose()

    async def ping_every(self, interval: float, count: int) -> None:
        """Ping ``count`` times; record each pong latency (real clock)."""
        for n in range(count):
            start = trio.current_time()
            with trio.fail_after(10):
                await self.ws.ping(n.to_bytes(4, "big"))
            self.pong_latencies.append(trio.current_time() - start)
            await trio.sleep(interval)


class FakeServer:
    """Accepts connections, answers SUBSCRIBE/UNSUBSCRIBE, records every frame."""

    def __init__(self) -> None:
        self.conns: list[FakeConn] = []
        self.port = 0
        self.reply = True  # answer control requests
        self.lose_subscribe_replies = 0  # the next n SUBSCRIBE replies are lost
        self.ignore_subscribes = 0  # the next n SUBSCRIBE requests take no effect
        self.error_for: set[str] = set()  # streams whose SUBSCRIBE gets an error reply
        self.refuse = 0  # reject the next n handshakes with HTTP 503
        self.max_target = 0  # > 0: reject a longer request target with HTTP 414
        self._changed = trio.Condition()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def run(
        self, *, task_status: trio.TaskStatus[FakeServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._handler, "127.0.0.1", 0, None)
            self.port = server.port
            task_status.started(self)

    async def wait_conns(self, n: int) -> FakeConn:
        """Wait until ``n`` connections were accepted; return the n-th."""
        async with self._changed:
            while len(self.conns) < n:
                await self._changed.wait()
        return self.conns[n - 1]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handler(self, request: WebSocketRequest) -> None:
        if self.refuse:
            self.refuse -= 1
            await request.reject(503)
            return
        if self.max_target and len(request.path) > self.max_target:
            await request.reject(414)
            return
        ws = await request.accept()
        query = parse_qs(urlsplit(request.path).query)
        url_streams = query["streams"][0].split("/") if "streams" in query else []
        conn = FakeConn(ws=ws, path=request.path, url_streams=url_streams)
        self.conns.append(conn)
        await self._notify()
        try:
            while True:
                msg = await ws.get_message()
                assert isinstance(msg, str)
                conn.received.append((trio.current_time(), msg))
                req = json.loads(msg)
                if req["method"] == "SUBSCRIBE":
                    bad = [s for s in req["params"] if s in self.error_for]
                    if self.ignore_subscribes:
                        self.ignore_subscribes -= 1
                    elif not bad:
                        conn.subscribed.extend(req["params"])
                    if self.lose_subscribe_replies:
                        self.lose_subscribe_replies -= 1
                    elif self.reply:
                        reply = (
                            {"code": 2, "msg": f"Invalid request: {bad}", "id": req["id"]}
                            if bad
                            else {"result": None, "id": req["id"]}
                        )
                        await ws.send_message(json.dumps(reply))
                elif req["method"] == "LIST_SUBSCRIPTIONS" and self.reply:
                    reply = {"result": conn.streams, "id": req["id"]}
                    await ws.send_message(json.dumps(reply))
                elif req["method"] == "UNSUBSCRIBE":
                    conn.subscribed = [s for s in conn.subscribed if s not in req["params"]]
                    conn.url_streams = [s for s in conn.url_streams if s not in req["params"]]
                    if self.reply:
                        await ws.send_message(json.dumps({"result": None, "id": req["id"]}))
                await self._notify()
        except ConnectionClosed as exc:
            conn.close_code = exc.reason.code if exc.reason is not None else None
        finally:
            conn.closed.set()
            with trio.CancelScope(shield=True):
                await self._notify()


STREAMS = ["btcusdt@aggTrade", "ethusdt@aggTrade", "bnbusdt@aggTrade"]


def make_shard(
    server: FakeServer,
    out: trio.MemorySendChannel[WriterInput],
    streams: list[str] = STREAMS,
    **kw: object,
) -> Shard:
    kw.setdefault("backoff", Backoff(0.01, 0.05, rng=random.Random(1)))
    kw.setdefault("close_timeout", 1.0)
    return Shard(
        "fake#0",
        FakeSource(),
        server.url,
        streams,
        out,
        Telemetry(),
        ConnectBudget(100),
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]  # test helper forwards keyword options
    )


async def next_of(recv: trio.MemoryReceiveChannel[WriterInput], kind: type) -> WriterInput:
    while True:
        item = await recv.receive()
        if isinstance(item, kind):
            return item


async def next_event(recv: trio.MemoryReceiveChannel[WriterInput], kind: str) -> ShardEvent:
    while True:
        item = await recv.receive()
        if isinstance(item, ShardEvent) and item.kind == kind:
            return item
