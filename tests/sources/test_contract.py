"""The contract every registered source must keep (the plug-in seam of the pipeline)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.errors import UsageError
from orders_cli.models import ControlReply, Ignored, Rejection, ServerShutdown, Trade
from orders_cli.sources.base import RestRequest, Source
from orders_cli.sources.registry import SOURCES, get_source
from tests.datafiles import BINANCE

FIXTURES = BINANCE
ALL = sorted(SOURCES)


@pytest.fixture(params=ALL)
def source(request: pytest.FixtureRequest) -> Source:
    return get_source(request.param)


def test_registry() -> None:
    assert "spot" in SOURCES
    assert get_source("spot").key_prefix == ""
    with pytest.raises(UsageError, match="spot"):
        get_source("nope")


def test_identity_and_limits(source: Source) -> None:
    assert SOURCES[source.name] is source
    assert source.key_prefix == ("" if source.name == "spot" else f"{source.name}:")
    lim = source.limits
    assert lim.max_streams_per_connection > 0 and lim.max_messages_per_second > 0
    assert 0 < lim.exchange_info_weight <= lim.rest_weight_per_minute
    assert 0 < lim.agg_trades_weight <= lim.rest_weight_per_minute
    assert lim.first_agg_id in (0, 1)
    assert source.default_ws_url.startswith("wss://")
    assert source.default_rest_url.startswith("https://")


def test_fixture_frames_parse_to_trades(source: Source) -> None:
    lines = (FIXTURES / f"{source.name}-aggTrade-frames.jsonl").read_bytes().splitlines()
    for line in lines:
        (ev,) = source.parse(line)
        assert isinstance(ev, Trade)
        assert source.stream_name(ev.symbol) == orjson.loads(line)["stream"]


def test_exchange_info_fixture(source: Source) -> None:
    body = (FIXTURES / f"{source.name}-exchangeInfo-2021.json").read_bytes()
    infos = source.parse_exchange_info(body)
    assert infos and all(i.symbol and i.status for i in infos)
    req = source.exchange_info_request()
    assert isinstance(req, RestRequest) and req.path.endswith("/exchangeInfo")
    assert req.weight == source.limits.exchange_info_weight


def test_agg_trades_request_and_parse(source: Source) -> None:
    req = source.agg_trades_request("BTCUSDT", from_id=5, limit=1000)
    assert req.path.endswith("/aggTrades")
    assert req.params == {"symbol": "BTCUSDT", "fromId": "5", "limit": "1000"}
    assert req.weight == source.limits.agg_trades_weight
    body = b'[{"a":5,"p":"1.0","q":"2","f":1,"l":1,"T":1700000000009,"m":false}]'
    (t,) = source.parse_agg_trades("BTCUSDT", body)
    assert (t.agg_id, t.event_time, t.symbol) == (5, 1700000000009, "BTCUSDT")


def test_urls_and_control(source: Source) -> None:
    streams = [source.stream_name("BTCUSDT"), source.stream_name("币安人生USDT")]
    url = source.connect_url(source.default_ws_url, streams)
    url.encode("ascii")
    assert "/stream?streams=btcusdt@aggTrade/" in url
    assert source.connect_url(source.default_ws_url, []).endswith("/stream")
    msg = orjson.loads(source.subscribe_message(streams, 1))
    assert msg == {"method": "SUBSCRIBE", "params": streams, "id": 1}
    assert orjson.loads(source.unsubscribe_message(streams, 2))["method"] == "UNSUBSCRIBE"
    (reply,) = source.parse(b'{"result":null,"id":1}')
    assert reply == ControlReply(request_id=1, result=None)


@given(raw=st.binary(max_size=64))
def test_parse_never_raises(raw: bytes) -> None:
    for name in ALL:
        events = SOURCES[name].parse(raw)
        assert len(events) == 1
        assert isinstance(events[0], Rejection | ControlReply | Ignored | ServerShutdown)
