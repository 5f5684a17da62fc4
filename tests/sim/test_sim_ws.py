"""WebSocket Streams conformance: URL forms, framing, control messages and their errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from orders_cli.sim.wsserver import parse_path
from tests.sim.simhelpers import running


async def _next(ws: WebSocketConnection) -> Any:
    with trio.fail_after(5):
        return orjson.loads(await ws.get_message())


async def _reply(ws: WebSocketConnection, request: dict[str, Any] | str) -> Any:
    """Send a control request and return the first non-data frame."""
    text = request if isinstance(request, str) else orjson.dumps(request).decode()
    with trio.fail_after(5):
        await ws.send_message(text)
    while True:
        msg = await _next(ws)
        if not isinstance(msg, dict) or ("e" not in msg and "stream" not in msg):
            return msg


def test_parse_path_forms() -> None:
    assert parse_path("/ws") == (False, [])
    assert parse_path("/ws/btcusdt@aggTrade") == (False, ["btcusdt@aggTrade"])
    assert parse_path("/ws/btcusdt@aggTrade/ethusdt@aggTrade") == (
        False,
        ["btcusdt@aggTrade", "ethusdt@aggTrade"],
    )
    assert parse_path("/ws/0") == (False, [])
    assert parse_path("/stream") == (True, [])
    assert parse_path("/stream?streams=a@aggTrade/b@aggTrade") == (
        True,
        ["a@aggTrade", "b@aggTrade"],
    )
    enc = "/stream?streams=" + quote("币安人生usdt@aggTrade")
    assert parse_path(enc) == (True, ["币安人生usdt@aggTrade"])
    assert parse_path("/nope") is None


@pytest.mark.parametrize("path", ["/ws/btcusdt@aggTrade", "/ws/ethusdt@aggTrade/btcusdt@aggTrade"])
async def test_raw_frames_are_bare_events(path: str) -> None:
    async with running() as sim, open_websocket_url(sim.ws_url + path) as ws:
        for _ in range(5):
            msg = await _next(ws)
            assert msg["e"] == "aggTrade" and "stream" not in msg


async def test_combined_frames_are_wrapped() -> None:
    url = "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
    async with running() as sim, open_websocket_url(sim.ws_url + url) as ws:
        seen = set()
        for _ in range(40):
            msg = await _next(ws)
            assert list(msg) == ["stream", "data"]
            assert msg["stream"] == msg["data"]["s"].lower() + "@aggTrade"
            seen.add(msg["stream"])
        assert seen == {"btcusdt@aggTrade", "ethusdt@aggTrade"}


@pytest.mark.parametrize("encoded", [True, False])
async def test_non_ascii_stream_names(encoded: bool) -> None:
    name = "币安人生usdt@aggTrade"
    path = "/ws/" + (quote(name) if encoded else name)
    async with running() as sim:
        if not encoded:
            path = quote(path, safe="/@")  # the client must send a valid request line
        async with open_websocket_url(sim.ws_url + path) as ws:
            msg = await _next(ws)
            assert msg["s"] == "币安人生USDT"


async def test_live_frames_match_truth_and_ids_contiguous() -> None:
    async with running() as sim, open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
        got = [await _next(ws) for _ in range(50)]
        assert sim.stats["ws_open"] == 1
        truth = {r["a"]: r for r in sim.truth_by_symbol()["BTCUSDT"]}
    ids = [m["a"] for m in got]
    assert ids == list(range(ids[0], ids[0] + 50))
    for m in got:
        t = truth[m["a"]]
        assert (m["p"], m["q"], m["f"], m["l"], m["T"], m["m"], m["E"]) == (
            t["p"],
            t["q"],
            t["f"],
            t["l"],
            t["T"],
            t["m"],
            t["E"],
        )
        assert m["E"] >= m["T"]


async def test_ws_zero_path_is_silent_then_subscribe() -> None:
    async with running() as sim, open_websocket_url(sim.ws_url + "/ws/0") as ws:
        with trio.move_on_after(0.3):
            msg = await ws.get_message()
            raise AssertionError(f"unexpected frame {msg}")
        assert await _reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {
            "result": [],
            "id": 1,
        }
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 2}
        assert await _reply(ws, sub) == {"result": None, "id": 2}
        assert (await _next(ws))["s"] == "BTCUSDT"


async def test_control_messages() -> None:
    uid = "0b6c1e3c-5d2f-4c3a-9a0e-8f1d2b3c4d5e"
    async with running() as sim, open_websocket_url(sim.ws_url + "/ws") as ws:
        sub = {"method": "SUBSCRIBE", "params": ["nosuchusdt@aggTrade"], "id": uid}
        assert await _reply(ws, sub) == {"result": None, "id": uid}
        lst = {"method": "LIST_SUBSCRIPTIONS", "id": None}
        assert await _reply(ws, lst) == {"result": ["nosuchusdt@aggTrade"], "id": None}
        get = {"method": "GET_PROPERTY", "params": ["combined"], "id": 3}
        assert await _reply(ws, get) == {"result": False, "id": 3}
        sett = {"method": "SET_PROPERTY", "params": ["combined", True], "id": 4}
        assert await _reply(ws, sett) == {"result": None, "id": 4}
        assert await _reply(ws, get) == {"result": True, "id": 3}
        await trio.sleep(1.1)  # stay under 5 incoming messages per second
        uns = {"method": "UNSUBSCRIBE", "params": ["nosuchusdt@aggTrade"], "id": 5}
        assert await _reply(ws, uns) == {"result": None, "id": 5}
        assert await _reply(ws, lst) == {"result": [], "id": None}
        assert sim.stats["control_errors"] == 0


ERRORS = [
    ('{"method":"SUBSCRIBE",', 3, "Invalid JSON: expected value at line 1 column"),
    ('{"method":"SET_PROPERTY","params":["nope",true],"id":1}', 0, "Unknown property"),
    (
        '{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}',
        1,
        "Invalid value type: expected Boolean",
    ),
    (
        '{"method":"SET_PROPERTY","params":[5,true],"id":1}',
        2,
        "Invalid request: property name must be a string",
    ),
    (
        '{"method":"SUBSCRIBE","params":[],"id":true}',
        2,
        "Invalid request: request ID must be an unsigned integer",
    ),
    ('{"method":"NOPE","params":[],"id":1}', 2, "Invalid request: unknown variant `NOPE`"),
    (
        '{"method":"GET_PROPERTY","params":["combined","x"],"id":1}',
        2,
        "Invalid request: too many parameters",
    ),
    ('{"params":[],"id":1}', 2, "Invalid request: missing field `method`"),
]


@pytest.mark.parametrize(("text", "code", "msg"), ERRORS)
async def test_control_errors(text: str, code: int, msg: str) -> None:
    async with running() as sim, open_websocket_url(sim.ws_url + "/ws") as ws:
        err = await _reply(ws, text)
        assert err["code"] == code
        assert err["msg"].startswith(msg)
        assert "result" not in err


async def test_unknown_path_is_rejected() -> None:
    from trio_websocket import HandshakeError

    async with running() as sim:
        with trio.fail_after(5), pytest.raises(HandshakeError):
            async with open_websocket_url(sim.ws_url + "/nope"):
                pass


async def test_vanishing_clients_do_not_break_the_server() -> None:
    async with running() as sim:
        with trio.fail_after(5):
            stream = await trio.open_tcp_stream("127.0.0.1", sim.ws_port)
            await stream.send_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")  # half a handshake
            await stream.aclose()
            async with open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
                await ws.get_message()
            # the server noticed the peer going away and cleaned up
            async with open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
                assert (await _next(ws))["e"] == "aggTrade"
