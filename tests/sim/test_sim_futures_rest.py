"""REST conformance of the simulator's futures side (USD-M /fapi/v1, COIN-M /dapi/v1)
against the recorded exchangeInfo bodies and docs/binance.md §3: shapes, weights and the
shared pool, the 1 h span, fromId alone, the history windows, errors."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from orders_cli.sim import SimConfig, Simulator, SymbolSpec
from orders_cli.sim.fixture import SIMULATOR_MARK
from tests.datafiles import BINANCE
from tests.sim.futhelpers import futures_config
from tests.sim.simhelpers import running

PREFIX = {"usdm": "/fapi/v1", "coinm": "/dapi/v1"}
HOUR = 3_600_000
MARKETS = ["usdm", "coinm"]


@asynccontextmanager
async def rest(
    market: str, history_s: float = 30.0, **kw: Any
) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient, str]]:
    async with (
        running(futures_config(market, history_s=history_s, **kw)) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as client,
    ):
        yield sim, client, PREFIX[market]


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    with trio.fail_after(10):
        return await client.get(path, params=params)


def _recorded(market: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((BINANCE / f"{market}-exchangeInfo-2021.json").read_text())
    return body


@pytest.mark.parametrize("market", MARKETS)
async def test_exchange_info_has_the_recorded_shape_and_status_key(market: str) -> None:
    recorded = _recorded(market)
    cfg = SimConfig.from_fixture(market=market, n_symbols=500, seed=3, total_rate=5.0)
    async with (
        running(cfg) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as client,
    ):
        r = await _get(client, PREFIX[market] + "/exchangeInfo")
    assert r.status_code == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    body = r.json()
    assert body.pop(SIMULATOR_MARK)  # the one key Binance never sends: the sim's own mark
    assert list(body) == list(recorded)
    by_name = {s["symbol"]: s for s in recorded["symbols"]}
    status_key = "contractStatus" if market == "coinm" else "status"
    other_key = "status" if market == "coinm" else "contractStatus"
    served = {s["symbol"]: s for s in body["symbols"]}
    assert set(by_name) <= set(served)  # every recorded instrument, whatever its status
    for name, obj in served.items():
        assert status_key in obj and other_key not in obj, name
        if name in by_name:
            assert obj == by_name[name], name  # byte for byte once parsed: same keys, order
            assert list(obj) == list(by_name[name])
    statuses = {s[status_key] for s in body["symbols"]}
    assert statuses == {s[status_key] for s in recorded["symbols"]}


@pytest.mark.parametrize("market", MARKETS)
async def test_a_scenario_symbol_gets_the_recorded_key_order(market: str) -> None:
    async with rest(market, history_s=0.0) as (_sim, client, prefix):
        body = (await _get(client, prefix + "/exchangeInfo")).json()
    template = _recorded(market)["symbols"][0]
    for obj in body["symbols"]:
        assert list(obj) == list(template), obj["symbol"]
    first = body["symbols"][0]
    tick = next(f for f in first["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"]
    assert first["pricePrecision"] == -Decimal(tick).normalize().as_tuple().exponent


@pytest.mark.parametrize("market", MARKETS)
async def test_weights_and_the_used_weight_header(market: str) -> None:
    async with rest(market) as (_sim, client, prefix):
        used = []
        for path in ("/ping", "/time", "/exchangeInfo", "/aggTrades"):
            params = {"symbol": client_symbol(market)} if path == "/aggTrades" else {}
            r = await _get(client, prefix + path, **params)
            assert r.status_code == 200, r.text
            used.append(int(r.headers["X-MBX-USED-WEIGHT-1M"]))
        assert used == [1, 2, 3, 23]  # aggTrades weighs 20


def client_symbol(market: str) -> str:
    return "BTCUSDT" if market == "usdm" else "BTCUSD_PERP"


@pytest.mark.parametrize("market", MARKETS)
async def test_agg_trades_rows_and_decimals(market: str) -> None:
    async with rest(market) as (sim, client, prefix):
        sim.stop_trading()
        sym = client_symbol(market)
        truth = sim.truth_by_symbol()[sym]
        rows = (await _get(client, prefix + "/aggTrades", symbol=sym)).json()
    assert [list(r) for r in rows[:1]] == [["a", "p", "q", "f", "l", "T", "m"]]  # no "M"
    assert [r["a"] for r in rows] == [t["a"] for t in truth[-500:]]
    assert rows[-1] == {k: truth[-1][k] for k in ("a", "p", "q", "f", "l", "T", "m")}
    # the contract's precision, as the recorded frames: "60581.0", "369"
    p_digits, q_digits = (2, 3) if market == "usdm" else (1, 0)
    for r in rows:
        assert len(r["p"].partition(".")[2]) == p_digits, r
        assert len(r["q"].partition(".")[2]) == q_digits, r


@pytest.mark.parametrize("market", MARKETS)
async def test_the_one_hour_rule_applies_only_to_both_times(market: str) -> None:
    async with rest(market, history_s=3 * 3600.0, total_rate=2.0) as (sim, client, prefix):
        sim.stop_trading()
        sym = client_symbol(market)
        now = sim.engine.now_ms()
        r = await _get(
            client, prefix + "/aggTrades", symbol=sym, startTime=now - 2 * HOUR, endTime=now - HOUR
        )
        assert r.status_code == 400
        assert r.json() == {
            "code": -1127,
            "msg": "More than 1 hours between startTime and endTime.",
        }
        r = await _get(
            client, prefix + "/aggTrades", symbol=sym, startTime=now - HOUR, endTime=now - 1
        )
        assert r.status_code == 200
        truth = sim.truth_by_symbol()[sym]
        assert [x["a"] for x in r.json()] == [
            t["a"] for t in truth if now - HOUR <= t["T"] <= now - 1
        ][:500]
        # one time alone: any distance
        r = await _get(
            client, prefix + "/aggTrades", symbol=sym, startTime=truth[0]["T"] - 10, limit=3
        )
        assert r.status_code == 200 and [x["a"] for x in r.json()] == [t["a"] for t in truth[:3]]
        r = await _get(client, prefix + "/aggTrades", symbol=sym, endTime=now - 2 * HOUR, limit=2)
        assert r.status_code == 200
        assert [x["a"] for x in r.json()] == [t["a"] for t in truth if t["T"] <= now - 2 * HOUR][
            -2:
        ]


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("time_param", ["startTime", "endTime"])
async def test_from_id_never_with_a_time(market: str, time_param: str) -> None:
    async with rest(market) as (sim, client, prefix):
        sym = client_symbol(market)
        first = sim.truth_by_symbol()[sym][0]
        params = {"fromId": first["a"], time_param: first["T"]}
        r = await _get(client, prefix + "/aggTrades", symbol=sym, **params)
        assert r.status_code == 400
        assert r.json() == {"code": -1128, "msg": "Combination of optional parameters invalid."}


async def test_spot_still_takes_from_id_with_a_time() -> None:
    from tests.sim.simhelpers import small_config

    async with (
        running(small_config(history_s=5.0)) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as client,
    ):
        first = sim.truth_by_symbol()["BTCUSDT"][0]
        r = await _get(
            client, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=first["a"], startTime=first["T"]
        )
        assert r.status_code == 200 and r.json()[0]["a"] == first["a"]


@pytest.mark.parametrize(("market", "hours"), [("usdm", 48), ("coinm", 24)])
def test_history_windows_default_to_48_and_24_hours(market: str, hours: int) -> None:
    assert SimConfig(market=market).rest_history_s == hours * 3600.0
    assert SimConfig(market="spot").rest_history_s is None


@pytest.mark.parametrize(("market", "hours"), [("usdm", 48), ("coinm", 24)])
async def test_trades_older_than_the_history_window_are_not_served(market: str, hours: int) -> None:
    cfg_kw = {"history_s": (hours + 2) * 3600.0, "total_rate": 0.2}
    async with rest(market, **cfg_kw) as (sim, client, prefix):
        sim.stop_trading()
        sym = client_symbol(market)
        truth = sim.truth_by_symbol()[sym]
        window = hours * HOUR
        edge = sim.engine.now_ms() - window
        assert truth[0]["T"] < edge - HOUR, "history reaches past the window"
        for params in ({"fromId": truth[0]["a"]}, {"startTime": truth[0]["T"]}):
            # a bound before the window: the page starts at the oldest trade still kept
            lo = sim.engine.now_ms() - window
            r = await _get(client, prefix + "/aggTrades", symbol=sym, limit=5, **params)
            hi = sim.engine.now_ms() - window
            _starts_at_the_edge(r.json(), truth, lo, hi, 5)
        # endTime before the window: nothing
        r = await _get(client, prefix + "/aggTrades", symbol=sym, endTime=edge - HOUR)
        assert r.status_code == 200 and r.json() == []
        # no parameter: the newest, never older than the window
        r = await _get(client, prefix + "/aggTrades", symbol=sym, limit=1000)
        assert [x["a"] for x in r.json()] == [t["a"] for t in truth[-len(r.json()) :]]
        assert r.json()[0]["T"] >= edge


def _starts_at_the_edge(
    rows: list[dict[str, Any]], truth: list[dict[str, Any]], lo: int, hi: int, n: int
) -> None:
    """``rows`` are the ``n`` trades from the first one with T at or after the window's
    edge, which moved from ``lo`` to ``hi`` while the request was served."""
    i = rows[0]["a"] - truth[0]["a"]
    assert truth[i]["T"] >= lo and (i == 0 or truth[i - 1]["T"] < hi)
    assert [x["a"] for x in rows] == [t["a"] for t in truth[i : i + n]]


async def test_usdm_ids_start_at_one() -> None:
    async with rest("usdm", history_s=2.0) as (sim, client, prefix):
        sim.list_symbol(
            SymbolSpec(
                "NEWUSDT", rate=100.0, first_id=0, price="1.0000", tick_size="0.0001", step_size="1"
            )
        )
        async with open_websocket_url(sim.ws_url + "/market/ws/newusdt@aggTrade") as ws:
            for _ in range(3):  # wait until it has traded
                with trio.fail_after(5):
                    await ws.get_message()
        assert sim.truth_by_symbol()["BTCUSDT"][0]["a"] == 1  # first_id 0 asked, 1 served
        assert sim.truth_by_symbol()["NEWUSDT"][0]["a"] == 1
        r = await _get(client, prefix + "/aggTrades", symbol="NEWUSDT", fromId=0, limit=2)
        assert [x["a"] for x in r.json()] == [1, 2]


@pytest.mark.parametrize("market", MARKETS)
async def test_trade_id_ranges_skip_ids_while_agg_ids_do_not(market: str) -> None:
    async with rest(market, history_s=60.0) as (sim, _client, _prefix):
        sim.stop_trading()
        truth = sim.truth_by_symbol()[client_symbol(market)]
    assert len(truth) > 2000
    assert [t["a"] for t in truth] == list(range(truth[0]["a"], truth[0]["a"] + len(truth)))
    steps = [b["f"] - a["l"] for a, b in itertools.pairwise(truth)]
    assert min(steps) == 1 and max(steps) > 1  # holes in f..l (insurance fund, ADL)
    assert all(t["l"] >= t["f"] for t in truth)


async def test_spot_trade_id_ranges_stay_contiguous() -> None:
    from tests.sim.simhelpers import small_config

    async with running(small_config(history_s=60.0)) as sim:
        sim.stop_trading()
        truth = sim.truth_by_symbol()["BTCUSDT"]
    assert all(b["f"] == a["l"] + 1 for a, b in itertools.pairwise(truth))


@pytest.mark.parametrize("market", MARKETS)
async def test_errors_as_binance(market: str) -> None:
    async with rest(market, history_s=1.0) as (_sim, client, prefix):
        r = await _get(client, prefix + "/aggTrades")
        assert r.status_code == 400 and r.json() == {
            "code": -1102,
            "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        }
        r = await _get(client, prefix + "/aggTrades", symbol="NOPEUSDT")
        assert r.status_code == 400 and r.json() == {"code": -1121, "msg": "Invalid symbol."}
        r = await _get(client, prefix + "/aggTrades", symbol=client_symbol(market), limit=1001)
        assert r.status_code == 400 and r.json()["code"] == -1130
        r = await _get(client, prefix + "/nothing")
        assert r.status_code == 404 and "X-MBX-USED-WEIGHT-1M" in r.headers
        # the spot paths are not served by a futures simulator
        r = await _get(client, "/api/v3/exchangeInfo")
        assert r.status_code == 404


@pytest.mark.parametrize("market", MARKETS)
async def test_weight_over_budget_429_then_418(market: str) -> None:
    cfg_kw = {"weight_budget": 45, "calls_after_429_to_ban": 2, "ban_s": 300}
    async with rest(market, history_s=1.0, **cfg_kw) as (sim, client, prefix):
        sym = client_symbol(market)
        codes = [(await _get(client, prefix + "/aggTrades", symbol=sym)) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert codes[1].headers["X-MBX-USED-WEIGHT-1M"] == "40"
        assert codes[2].json()["code"] == -1003 and int(codes[2].headers["Retry-After"]) >= 1
        assert "current limit is 45 request weight per 1 MINUTE" in codes[2].json()["msg"]
        assert (await _get(client, prefix + "/ping")).status_code == 429
        r = await _get(client, prefix + "/ping")
        assert r.status_code == 418 and 200 < int(r.headers["Retry-After"]) <= 300
        assert sim.stats["rest_418"] == 1


def test_futures_limits_default_to_the_markets() -> None:
    for market in MARKETS:
        cfg = SimConfig(market=market)
        assert (cfg.max_msgs_per_s, cfg.max_streams, cfg.weight_budget) == (10, 1024, 2400)
        assert (cfg.ping_interval_s, cfg.pong_timeout_s) == (180.0, 600.0)
    spot = SimConfig()
    assert (spot.max_msgs_per_s, spot.weight_budget, spot.ping_interval_s) == (5, 6000, 20.0)
    assert SimConfig(market="usdm", max_msgs_per_s=3).max_msgs_per_s == 3
    with pytest.raises(ValueError, match="market"):
        SimConfig(market="options")
