"""WebSocket conformance of the simulator's futures side: frames shaped as the recorded
USD-M / COIN-M frames, USD-M only under /market (the legacy root accepts and stays
silent), COIN-M at the root, 1,024 streams per connection (10 incoming messages/s: in
test_sim_limits.py with spot's 5)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from orders_cli.sim import Simulator
from tests.sim.futhelpers import frame_shape, futures_config, recorded_frames, shape
from tests.sim.simhelpers import running

STREAM = {"usdm": "btcusdt@aggTrade", "coinm": "btcusd_perp@aggTrade"}
LIVE = {"usdm": "/market/stream?streams=", "coinm": "/stream?streams="}


async def _next(ws: WebSocketConnection) -> bytes:
    with trio.fail_after(5):
        msg = await ws.get_message()
    return msg.encode() if isinstance(msg, str) else msg


async def _silent(ws: WebSocketConnection, seconds: float = 0.5) -> None:
    with trio.move_on_after(seconds):
        msg = await ws.get_message()
        raise AssertionError(f"unexpected frame {msg!r}")


@pytest.mark.parametrize("market", ["usdm", "coinm"])
async def test_frames_have_the_recorded_shape(market: str) -> None:
    recorded = {orjson.dumps(frame_shape(f)) for f in recorded_frames(market)}
    assert len(recorded) == 1  # every recorded frame of the market has one shape
    async with (
        running(futures_config(market)) as sim,
        open_websocket_url(sim.ws_url + LIVE[market] + STREAM[market]) as ws,
    ):
        frames = [await _next(ws) for _ in range(40)]
        truth = {
            r["a"]: r
            for r in sim.truth_by_symbol()[frames[0].split(b'"s":"')[1].split(b'"')[0].decode()]
        }
    for raw in frames:
        assert orjson.dumps(frame_shape(raw)) in recorded, raw
        # the exact bytes: no spaces, wrapper first, the data object as recorded
        data = orjson.loads(raw)["data"]
        assert (
            raw
            == b'{"stream":"' + STREAM[market].encode() + b'","data":' + orjson.dumps(data) + b"}"
        )
        t = truth[data["a"]]
        assert (data["p"], data["q"], data["f"], data["l"], data["T"], data["m"]) == (
            t["p"],
            t["q"],
            t["f"],
            t["l"],
            t["T"],
            t["m"],
        )


def test_the_recorded_futures_frames_have_no_m_and_no_x() -> None:
    for market in ("usdm", "coinm"):
        keys = [k for k, _ in shape(orjson.loads(recorded_frames(market)[0])["data"])]
        assert keys == ["e", "E", "a", "s", "p", "q", "f", "l", "T", "m"]


@pytest.mark.parametrize(
    "path", ["/market/ws/btcusdt@aggTrade", "/market/stream?streams=btcusdt@aggTrade"]
)
async def test_usdm_delivers_under_market(path: str) -> None:
    async with running(futures_config("usdm")) as sim, open_websocket_url(sim.ws_url + path) as ws:
        msg = orjson.loads(await _next(ws))
        data = msg.get("data", msg)
        assert data["e"] == "aggTrade" and data["s"] == "BTCUSDT"
        assert ("stream" in msg) == path.startswith("/market/stream")


@pytest.mark.parametrize(
    "path",
    [
        "/stream?streams=btcusdt@aggTrade",
        "/ws/btcusdt@aggTrade",
        "/stream",
        "/public/ws/btcusdt@aggTrade",
    ],
)
async def test_usdm_legacy_root_accepts_and_stays_silent(path: str) -> None:
    async with running(futures_config("usdm")) as sim, open_websocket_url(sim.ws_url + path) as ws:
        await _silent(ws)
        sub = {"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 1}
        await ws.send_message(orjson.dumps(sub).decode())
        assert orjson.loads(await _next(ws)) == {"result": None, "id": 1}  # confirmed...
        lst = {"method": "LIST_SUBSCRIPTIONS", "id": 2}
        await ws.send_message(orjson.dumps(lst).decode())
        listed = orjson.loads(await _next(ws))["result"]
        assert "ethusdt@aggTrade" in listed
        await _silent(ws)  # ...and still nothing, while the symbols trade
        assert sim.stats["trades"] > 50 and sim.stats["ws_silent_route"] == 1


@pytest.mark.parametrize(
    "path", ["/ws/btcusd_perp@aggTrade", "/stream?streams=btcusd_perp@aggTrade"]
)
async def test_coinm_delivers_at_the_root(path: str) -> None:
    async with running(futures_config("coinm")) as sim, open_websocket_url(sim.ws_url + path) as ws:
        msg = orjson.loads(await _next(ws))
        assert msg.get("data", msg)["s"] == "BTCUSD_PERP"


async def _closed_code(ws: WebSocketConnection) -> int:
    with trio.fail_after(5), pytest.raises(ConnectionClosed) as info:
        while True:
            await ws.get_message()
    assert info.value.reason is not None
    return int(info.value.reason.code)


@pytest.mark.parametrize("market", ["usdm", "coinm"])
async def test_1024_streams_per_connection(market: str) -> None:
    path = "/market/ws" if market == "usdm" else "/ws"
    names = [f"s{i}usdt@aggTrade" for i in range(1024)]
    async with running(futures_config(market)) as sim, open_websocket_url(sim.ws_url + path) as ws:
        await ws.send_message(
            orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}).decode()
        )
        assert orjson.loads(await _next(ws)) == {"result": None, "id": 1}
        await ws.send_message(
            orjson.dumps({"method": "SUBSCRIBE", "params": ["one@aggTrade"], "id": 2}).decode()
        )
        assert await _closed_code(ws) == 1008
        assert sim.stats["closed_streams"] == 1


async def test_one_simulator_serves_three_markets() -> None:
    from tests.sim.simhelpers import small_config

    sim = Simulator(small_config(), futures_config("usdm"), futures_config("coinm"))
    assert sim.markets == ["spot", "usdm", "coinm"]
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            await nursery.start(sim.serve)
        assert sim.ws_url_for("spot") == sim.ws_url
        assert sim.ws_url_for("usdm") == sim.ws_url + "/usdm"
        got: dict[str, Any] = {}
        for market, path in (
            ("spot", "/stream?streams=btcusdt@aggTrade"),
            ("usdm", "/market/stream?streams=btcusdt@aggTrade"),
            ("coinm", "/stream?streams=btcusd_perp@aggTrade"),
        ):
            async with open_websocket_url(sim.ws_url_for(market) + path) as ws:
                got[market] = orjson.loads(await _next(ws))["data"]
        assert "M" in got["spot"] and "M" not in got["usdm"] and "M" not in got["coinm"]
        truth = {m: {r["a"]: r for r in sim.truth(m)} for m in sim.markets}
        assert got["usdm"]["p"] == truth["usdm"][got["usdm"]["a"]]["p"]
        async with open_websocket_url(
            sim.ws_url_for("usdm") + "/stream?streams=btcusdt@aggTrade"
        ) as ws:
            await _silent(ws, 0.3)  # the legacy USD-M path stays silent under a prefix too
        import httpx

        async with httpx.AsyncClient(base_url=sim.rest_url) as client:
            with trio.fail_after(10):
                spot = await client.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT"})
                usdm = await client.get("/fapi/v1/aggTrades", params={"symbol": "BTCUSDT"})
                coinm = await client.get("/dapi/v1/exchangeInfo")
        assert spot.headers["X-MBX-USED-WEIGHT-1M"] == "4"
        assert usdm.headers["X-MBX-USED-WEIGHT-1M"] == "20"
        assert coinm.headers["X-MBX-USED-WEIGHT-1M"] == "21"  # one pool with USD-M
        assert "M" in spot.json()[0] and "M" not in usdm.json()[0]
        assert {s["symbol"] for s in coinm.json()["symbols"]} == {"BTCUSD_PERP", "OLDUSD_210625"}
        nursery.cancel_scope.cancel()


def test_one_config_per_market() -> None:
    with pytest.raises(ValueError, match="one config per market"):
        Simulator(futures_config("usdm"), futures_config("usdm"))


@pytest.mark.parametrize("market", ["usdm", "coinm"])
async def test_the_markets_source_reads_what_the_simulator_serves(market: str) -> None:
    import httpx

    from orders_cli.models import Trade
    from orders_cli.sources.registry import get_source

    source = get_source(market)
    async with (
        running(futures_config(market, history_s=5.0)) as sim,
        open_websocket_url(sim.ws_url + LIVE[market] + STREAM[market]) as ws,
        httpx.AsyncClient(base_url=sim.rest_url) as client,
    ):
        events = [e for _ in range(20) for e in source.parse(await _next(ws))]
        req = source.agg_trades_request(STREAM[market].split("@")[0].upper(), limit=50)
        info_req = source.exchange_info_request()
        with trio.fail_after(10):
            page = await client.get(req.path, params=dict(req.params))
            info = await client.get(info_req.path, params=dict(info_req.params))
    assert len(events) == 20 and all(isinstance(e, Trade) for e in events)
    trades = source.parse_agg_trades(req.params["symbol"], page.content)
    assert len(trades) == 50
    statuses = {i.symbol: i.status for i in source.parse_exchange_info(info.content)}
    assert statuses == {s.symbol: s.status for s in futures_config(market).symbols}
