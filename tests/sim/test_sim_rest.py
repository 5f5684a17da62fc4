"""REST conformance: aggTrades parameter semantics, exchangeInfo filters, klines, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import orjson
import trio
from trio_websocket import open_websocket_url

from orders_cli.sim import Faults, Simulator
from tests.sim.simhelpers import running, small_config

AGG_KEYS = ["a", "p", "q", "f", "l", "T", "m", "M"]


@asynccontextmanager
async def rest(
    history_s: float = 30.0, **kw: Any
) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    async with (
        running(small_config(history_s=history_s, **kw)) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as client,
    ):
        yield sim, client


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    with trio.fail_after(10):
        return await client.get(path, params=params)


async def test_ping_time_and_weight_header() -> None:
    async with rest() as (sim, client):
        r = await _get(client, "/api/v3/ping")
        assert r.status_code == 200 and r.json() == {}
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        r = await _get(client, "/api/v3/time")
        assert abs(r.json()["serverTime"] - sim.engine.now_ms()) < 5000
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "2"
        r = await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT")
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "6"
        r = await _get(client, "/api/v3/exchangeInfo")
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "26"
        r = await _get(client, "/api/v3/klines", symbol="BTCUSDT", interval="1m")
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "28"
        assert sim.stats["rest:/api/v3/ping"] == 1


async def test_agg_trades_semantics() -> None:
    async with rest() as (sim, client):
        sim.stop_trading()
        truth = sim.truth_by_symbol()["BTCUSDT"]
        assert len(truth) > 2000
        # no params: most recent 500
        rows = (await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT")).json()
        assert [list(r) for r in rows[:1]] == [AGG_KEYS]
        assert [r["a"] for r in rows] == [t["a"] for t in truth[-500:]]
        # fromId inclusive, limit
        a0 = truth[100]["a"]
        rows = (
            await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=a0, limit=7)
        ).json()
        assert [r["a"] for r in rows] == list(range(a0, a0 + 7))
        t = truth[100]
        assert rows[0] == {k: t[k] for k in AGG_KEYS if k != "M"} | {"M": True}
        # startTime only: oldest first from that time
        st = truth[200]["T"]
        rows = (
            await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=st, limit=5)
        ).json()
        first = next(x for x in truth if x["T"] >= st)
        assert rows[0]["a"] == first["a"] and len(rows) == 5
        # endTime only: most recent up to it
        et = truth[300]["T"]
        rows = (
            await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", endTime=et, limit=4)
        ).json()
        upto = [x["a"] for x in truth if x["T"] <= et][-4:]
        assert [r["a"] for r in rows] == upto
        # both: inside the window
        rows = (
            await _get(
                client, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=st, endTime=et, limit=1000
            )
        ).json()
        assert [r["a"] for r in rows] == [x["a"] for x in truth if st <= x["T"] <= et]
        # fromId past the end
        rows = (
            await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=truth[-1]["a"] + 1)
        ).json()
        assert rows == []


async def test_agg_trades_errors() -> None:
    async with rest(history_s=1.0) as (_sim, client):
        r = await _get(client, "/api/v3/aggTrades")
        assert r.status_code == 400 and r.json()["code"] == -1102
        r = await _get(client, "/api/v3/aggTrades", symbol="NOPEUSDT")
        assert r.status_code == 400 and r.json() == {"code": -1121, "msg": "Invalid symbol."}
        r = await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", limit=1001)
        assert r.status_code == 400 and r.json()["code"] == -1130
        r = await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", fromId="x")
        assert r.status_code == 400 and r.json()["code"] == -1100
        r = await _get(client, "/api/v3/nothing")
        assert r.status_code == 404
        assert "X-MBX-USED-WEIGHT-1M" in r.headers


async def test_unicode_symbol_over_rest() -> None:
    async with rest(history_s=10.0) as (_sim, client):
        r = await _get(client, "/api/v3/aggTrades", symbol="币安人生USDT", limit=3)
        assert r.status_code == 200 and len(r.json()) == 3


async def test_holes_are_not_served() -> None:
    cfg_holes = Faults(holes=(("BTCUSDT", 2**31 + 20, 2**31 + 29),))
    async with rest(faults=cfg_holes) as (_sim, client):
        rows = (
            await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=2**31 + 15, limit=10)
        ).json()
        ids = [r["a"] for r in rows]
        assert ids == [*range(2**31 + 15, 2**31 + 20), *range(2**31 + 30, 2**31 + 35)]
        rows = (
            await _get(client, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=2**31 + 22, limit=1)
        ).json()
        assert rows[0]["a"] == 2**31 + 30


async def test_exchange_info_filters() -> None:
    async with rest(history_s=0.0) as (_sim, client):
        body = (await _get(client, "/api/v3/exchangeInfo")).json()
        assert list(body) == [
            "timezone", "serverTime", "rateLimits", "exchangeFilters", "ordersSimulator", "symbols"
        ]  # fmt: skip
        names = {s["symbol"]: s for s in body["symbols"]}
        assert "GRPUSDT" not in names  # TRD_GRP-only: hidden by default
        assert names["OLDUSDT"]["status"] == "BREAK"
        assert names["币安人生USDT"]["permissionSets"] == [["SPOT"]]
        for key in ("permissionSets", "baseAsset", "quoteAsset", "filters", "status"):
            assert key in names["BTCUSDT"]
        r = await _get(client, "/api/v3/exchangeInfo", permissions='["TRD_GRP_005"]')
        assert [s["symbol"] for s in r.json()["symbols"]] == ["GRPUSDT"]
        r = await _get(client, "/api/v3/exchangeInfo", symbol="BTCUSDT")
        assert [s["symbol"] for s in r.json()["symbols"]] == ["BTCUSDT"]
        r = await _get(
            client,
            "/api/v3/exchangeInfo",
            symbols=orjson.dumps(["ETHUSDT", "币安人生USDT"]).decode(),
        )
        assert [s["symbol"] for s in r.json()["symbols"]] == ["ETHUSDT", "币安人生USDT"]
        r = await _get(client, "/api/v3/exchangeInfo", symbols='["ETHUSDT","NOPE"]')
        assert r.status_code == 400 and r.json()["code"] == -1121
        r = await _get(client, "/api/v3/exchangeInfo", symbol="BTCUSDT", showPermissionSets="false")
        assert r.json()["symbols"][0]["permissionSets"] == []


async def test_new_listing_and_break() -> None:
    from orders_cli.sim import SymbolSpec

    async with rest(history_s=0.0) as (sim, client):
        sim.list_symbol(SymbolSpec("NEWUSDT", rate=100.0, first_id=0, price="1.00000000"))
        sim.set_status("BTCUSDT", "BREAK")
        names = {
            s["symbol"]: s["status"]
            for s in (await _get(client, "/api/v3/exchangeInfo")).json()["symbols"]
        }
        assert names["NEWUSDT"] == "TRADING" and names["BTCUSDT"] == "BREAK"
        n_btc = len(sim.engine.books["BTCUSDT"])
        async with open_websocket_url(sim.ws_url + "/ws/newusdt@aggTrade") as ws:
            for _ in range(5):
                with trio.fail_after(5):
                    assert orjson.loads(await ws.get_message())["s"] == "NEWUSDT"
        assert len(sim.engine.books["BTCUSDT"]) == n_btc
        assert sim.truth_by_symbol()["NEWUSDT"][0]["a"] == 0


async def test_klines_consistent_with_trades() -> None:
    async with rest(history_s=180.0) as (sim, client):
        sim.stop_trading()
        truth = sim.truth_by_symbol()["BTCUSDT"]
        bars = (
            await _get(client, "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=1000)
        ).json()
        assert len(bars) >= 3
        total_fills = 0
        for bar in bars:
            assert len(bar) == 12
            open_t, close_t = bar[0], bar[6]
            assert close_t == open_t + 59_999 and open_t % 60_000 == 0
            rows = [t for t in truth if open_t <= t["T"] <= close_t]
            if not rows:
                assert bar[5] == "0.00000000"
                continue
            prices = [Decimal(t["p"]) for t in rows]
            assert Decimal(bar[1]) == prices[0] and Decimal(bar[4]) == prices[-1]
            assert Decimal(bar[2]) == max(prices) and Decimal(bar[3]) == min(prices)
            assert Decimal(bar[5]) == sum(Decimal(t["q"]) for t in rows)
            assert bar[8] == sum(t["l"] - t["f"] + 1 for t in rows)
            assert Decimal(bar[9]) == sum(Decimal(t["q"]) for t in rows if not t["m"])
            qv = sum(Decimal(t["p"]) * Decimal(t["q"]) for t in rows)
            assert Decimal(bar[7]) == qv.quantize(Decimal("0.00000001"), rounding="ROUND_DOWN")
            assert all(isinstance(x, str) for x in (bar[1], bar[5], bar[7], bar[9], bar[10]))
            total_fills += bar[8]
        assert total_fills == sum(t["l"] - t["f"] + 1 for t in truth)
        r = await _get(client, "/api/v3/klines", symbol="BTCUSDT", interval="7m")
        assert r.status_code == 400


async def test_other_methods_and_bad_requests_do_not_break_the_server() -> None:
    async with rest(history_s=0.0) as (_sim, client):
        with trio.fail_after(5):
            assert (await client.head("/api/v3/ping")).status_code == 405
            assert (await client.post("/api/v3/ping", content=b"x=1")).status_code == 405
            stream = await trio.open_tcp_stream("127.0.0.1", int(client.base_url.port or 0))
            await stream.send_all(b"NONSENSE\r\n\r\n")
            await stream.receive_some(1024)
            await stream.aclose()
            assert (await client.get("/api/v3/ping")).status_code == 200


async def test_exchange_info_names_the_simulator_instance_that_serves_it() -> None:
    """How a run knows it ingests simulator data (store/origin.py): by what it is served.
    Each simulator is its own instance (its trade ids start over); Binance never sends it."""
    from orders_cli.sources.registry import get_source

    spot = get_source("spot")
    async with rest() as (sim, client):
        body = (await _get(client, "/api/v3/exchangeInfo")).content
        assert spot.simulator_id(body) == sim.instance
        async with rest() as (other, _):
            assert other.instance != sim.instance
