"""REST bodies: exchangeInfo (fixtures) and aggTrades (validated like live frames)."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from orders_cli.errors import ExchangeRejected
from orders_cli.sources.binance.wire import (
    parse_agg_trades,
    parse_exchange_info,
    parse_exchange_info_report,
    permissions_seen,
)
from orders_cli.sources.registry import get_source
from tests.datafiles import BINANCE

FIXTURES = BINANCE
ROW = {"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781}
ROW |= {"T": 1498793709153, "m": True, "M": True}


def test_spot_exchange_info_fixture() -> None:
    infos = parse_exchange_info((FIXTURES / "spot-exchangeInfo-2021.json").read_bytes())
    assert len(infos) == 1695
    assert Counter(i.status for i in infos) == {"TRADING": 1262, "BREAK": 433}
    assert sum(i.trading for i in infos) == 1262
    by = {i.symbol: i for i in infos}
    assert (by["1INCHDOWNUSDT"].base_asset, by["1INCHDOWNUSDT"].quote_asset) == (
        "1INCHDOWN",
        "USDT",
    )


def test_futures_exchange_info_fixtures() -> None:
    usdm = parse_exchange_info((FIXTURES / "usdm-exchangeInfo-2021.json").read_bytes())
    assert len(usdm) == 122
    assert Counter(i.status for i in usdm) == {"TRADING": 121, "PENDING_TRADING": 1}
    coinm = parse_exchange_info((FIXTURES / "coinm-exchangeInfo-2021.json").read_bytes())
    assert len(coinm) == 36 and all(i.trading for i in coinm)  # from contractStatus
    assert {i.quote_asset for i in coinm} == {"USD"}


def test_exchange_info_non_ascii_and_bad_entries_skipped() -> None:
    body = orjson.dumps(
        {
            "symbols": [
                {"symbol": "币安人生USDT", "baseAsset": "币安人生", "quoteAsset": "USDT",
                 "status": "TRADING", "permissionSets": [["SPOT", "TRD_GRP_300"]]},
                {"symbol": "", "baseAsset": "X", "quoteAsset": "Y", "status": "TRADING"},
                {"symbol": "AB", "baseAsset": "A", "quoteAsset": "B"},
                [1],
                {"symbol": "CD", "baseAsset": "C", "quoteAsset": "D", "status": "BREAK",
                 "permissions": ["TRD_GRP_002"]},
            ]
        }
    )  # fmt: skip
    infos, skipped = parse_exchange_info_report(body)
    assert [i.symbol for i in infos] == ["币安人生USDT", "CD"]
    assert infos[0].base_asset == "币安人生"
    assert skipped == 3
    assert permissions_seen(body) == {"SPOT", "TRD_GRP_300", "TRD_GRP_002"}


def test_spot_fixture_permissions_seen() -> None:
    seen = permissions_seen((FIXTURES / "spot-exchangeInfo-2021.json").read_bytes())
    assert seen == {"SPOT", "MARGIN", "LEVERAGED"}


@pytest.mark.parametrize(
    "body", [b"[]", b'{"symbols": 5}', b'{"code": -1121, "msg": "Invalid symbol."}']
)
def test_exchange_info_bad_bodies_raise(body: bytes) -> None:
    with pytest.raises(ExchangeRejected):
        parse_exchange_info(body)


def test_agg_trades_body() -> None:
    body = orjson.dumps([ROW, {**ROW, "a": 26130, "f": 27782, "l": 27790, "nq": "1"}])
    trades = parse_agg_trades("BNBBTC", body)
    assert [t.agg_id for t in trades] == [26129, 26130]
    t = trades[0]
    assert (t.symbol, t.price, t.quantity, t.is_buyer_maker) == (
        "BNBBTC",
        "0.01633102",
        "4.70443515",
        True,
    )
    assert t.event_time == t.trade_time == 1498793709153
    assert trades[1].fills == 9
    assert parse_agg_trades("X", b"[]") == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[1]", "not_object"),
        (orjson.dumps([{k: v for k, v in ROW.items() if k != "q"}]), "missing:q"),
        (orjson.dumps([{**ROW, "p": "1e5"}]), "bad_decimal:p"),
        (orjson.dumps([{**ROW, "a": "1"}]), "type:a"),
        (orjson.dumps([ROW, {**ROW, "m": 0}]), "aggTrades[1]: type:m"),
        (b'{"code":-1121,"msg":"Invalid symbol."}', "Invalid symbol."),
    ],
)
def test_agg_trades_malformed_raise(body: bytes, why: str) -> None:
    with pytest.raises(ExchangeRejected, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse_agg_trades("BNBBTC", body)


def test_agg_trades_error_body_keeps_code() -> None:
    with pytest.raises(ExchangeRejected) as info:
        parse_agg_trades("X", b'{"code":-1121,"msg":"Invalid symbol."}')
    assert info.value.code == -1121


@pytest.mark.parametrize("market", ["spot", "usdm", "coinm"])
def test_the_real_exchange_info_names_no_simulator(market: str) -> None:
    body = (FIXTURES / f"{market}-exchangeInfo-2021.json").read_bytes()
    assert get_source(market).simulator_id(body) is None


@pytest.mark.parametrize(
    "body", [b"[]", b"not json", b'{"ordersSimulator": 5}', b'{"ordersSimulator": ""}']
)
def test_a_simulator_mark_that_is_not_an_instance_id_is_none(body: bytes) -> None:
    assert get_source("spot").simulator_id(body) is None
