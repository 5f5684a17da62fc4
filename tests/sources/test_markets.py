"""What differs between the Binance markets: paths, URLs, limits, REST time rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from orders_cli.models import Ignored, Trade
from orders_cli.sources.binance.coinm import COINM_MARKET as COINM
from orders_cli.sources.binance.market import BinanceMarket
from orders_cli.sources.binance.spot import SPOT_MARKET as SPOT
from orders_cli.sources.binance.spot import SPOT_PERMISSIONS
from orders_cli.sources.binance.usdm import USDM_MARKET as USDM
from tests.datafiles import COINM_FRAMES, USDM_FRAMES

HOUR = 3_600_000


def test_spot() -> None:
    assert SPOT.default_ws_url == "wss://stream.binance.com:9443"
    lim = SPOT.limits
    assert (lim.max_streams_per_connection, lim.max_messages_per_second) == (1024, 5.0)
    assert (lim.exchange_info_weight, lim.agg_trades_weight, lim.first_agg_id) == (20, 4, 0)
    assert SPOT.agg_trades_request("X").path == "/api/v3/aggTrades"


def test_spot_exchange_info_asks_for_every_permission_group() -> None:
    req = SPOT.exchange_info_request()
    assert req.path == "/api/v3/exchangeInfo" and req.weight == 20
    names = orjson.loads(req.params["permissions"])
    assert names == list(SPOT_PERMISSIONS)
    assert {"SPOT", "MARGIN", "LEVERAGED", "TRD_GRP_002", "TRD_GRP_025"} <= set(names)
    assert "TRD_GRP_026" not in names
    wider = SPOT.exchange_info_request([*SPOT_PERMISSIONS, "TRD_GRP_099"])
    assert orjson.loads(wider.params["permissions"])[-1] == "TRD_GRP_099"


def test_spot_allows_any_time_and_id_combination() -> None:
    req = SPOT.agg_trades_request("X", from_id=1, start_time=0, end_time=5 * HOUR, limit=10)
    assert req.params == {
        "symbol": "X",
        "limit": "10",
        "fromId": "1",
        "startTime": "0",
        "endTime": str(5 * HOUR),
    }


@pytest.mark.parametrize("market", [USDM, COINM])
def test_futures_rest_rules(market: BinanceMarket) -> None:
    src = market
    assert src.exchange_info_request().params == {}
    assert src.exchange_info_request().weight == 1
    req = src.agg_trades_request("BTCUSDT", start_time=0, end_time=5 * HOUR)
    assert req.params["endTime"] == str(HOUR - 1)  # clamped under the 1 h window
    ok = src.agg_trades_request("BTCUSDT", start_time=10, end_time=20)
    assert ok.params["endTime"] == "20"
    with pytest.raises(ValueError, match="not both"):
        src.agg_trades_request("BTCUSDT", from_id=1, start_time=0)
    assert src.limits.agg_trades_weight == 20
    assert src.limits.max_streams_per_connection == 200
    assert src.limits.max_messages_per_second == 10.0
    assert src.limits.first_agg_id == 1


def test_futures_paths_and_urls() -> None:
    assert USDM.agg_trades_request("X").path == "/fapi/v1/aggTrades"
    assert COINM.agg_trades_request("X").path == "/dapi/v1/aggTrades"
    assert USDM.default_ws_url == "wss://fstream.binance.com"
    assert USDM.connect_url(USDM.default_ws_url, ["btcusdt@aggTrade"]) == (
        "wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade"
    )
    assert COINM.default_ws_url == "wss://dstream.binance.com"
    assert (USDM.key_prefix, COINM.key_prefix) == ("usdm:", "coinm:")


def test_the_usdm_route_is_appended_to_any_host_base_the_user_gives() -> None:
    """``--ws-url`` is a host base (a proxy, a testnet, a mirror): USD-M aggTrade lives only
    on the routed ``/market`` path; the root path accepts subscriptions and sends nothing."""
    want = "ws://127.0.0.1:9000/market/stream?streams=btcusdt@aggTrade"
    for base in ("ws://127.0.0.1:9000", "ws://127.0.0.1:9000/"):
        assert USDM.connect_url(base, ["btcusdt@aggTrade"]) == want, base
    assert USDM.connect_url("ws://127.0.0.1:9000", []) == "ws://127.0.0.1:9000/market/stream"
    with_prefix = "wss://proxy.example/binance-futures"
    assert USDM.connect_url(with_prefix, ["x@aggTrade"]) == (
        f"{with_prefix}/market/stream?streams=x@aggTrade"
    )


@pytest.mark.parametrize(
    "base",
    [
        "wss://fstream.binance.com/market",
        "wss://fstream.binance.com/market/",
        "wss://fstream.binance.com/market/stream",
        "wss://fstream.binance.com/market/ws",
        "wss://fstream.binance.com/ws",
        "wss://fstream.binance.com/stream",
    ],
)
def test_a_usdm_base_given_with_the_route_or_a_stream_path_is_not_doubled(base: str) -> None:
    assert USDM.connect_url(base, ["x@aggTrade"]) == (
        "wss://fstream.binance.com/market/stream?streams=x@aggTrade"
    )
    assert USDM.max_streams_in_url(base, ["x@aggTrade"]) == 1


@pytest.mark.parametrize("market", [SPOT, COINM])
def test_spot_and_coinm_have_no_route(market: BinanceMarket) -> None:
    assert market.connect_url("ws://h:1", ["x@aggTrade"]) == "ws://h:1/stream?streams=x@aggTrade"


def test_futures_frames_with_nq_and_st() -> None:
    raw = (
        b'{"e":"aggTrade","E":1700000000009,"s":"BTCUSDT","a":5933014,"p":"0.001","q":"100",'
        b'"nq":"100","f":100,"l":105,"T":1700000000005,"m":true,"st":1}'
    )
    (t,) = USDM.parse(raw)
    assert getattr(t, "quantity", None) == "100"


@pytest.mark.parametrize("limit", [0, 1001, -5])
def test_limit_bounds(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        SPOT.agg_trades_request("X", limit=limit)


def _recorded(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize(("market", "path"), [(USDM, USDM_FRAMES), (COINM, COINM_FRAMES)])
def test_recorded_futures_frames_whose_x_is_not_market_are_dropped(
    market: BinanceMarket, path: Path
) -> None:
    """Futures aggregate insurance-fund and ADL fills separately (docs/binance.md §2.1, §2.3):
    such a frame (``X`` not ``MARKET``) is ignored, never stored; the same recorded frame
    with ``X: MARKET`` (or none, as recorded in 2021) is the same trade."""
    frames = _recorded(path)
    assert frames
    for frame in frames:
        data = frame["data"]
        (plain,) = market.parse(orjson.dumps(frame))
        assert isinstance(plain, Trade) and plain.agg_id == data["a"]
        marked = {**frame, "data": {**data, "X": "MARKET"}}
        assert market.parse(orjson.dumps(marked)) == [plain]
        for kind in ("INSURANCE_FUND", "ADL", "NA"):
            other = {**frame, "data": {**data, "X": kind}}
            assert market.parse(orjson.dumps(other)) == [Ignored(f"non_market:{kind}")]
            assert market.parse(orjson.dumps(other["data"])) == [Ignored(f"non_market:{kind}")]
