"""Stream names, handshake URLs (percent-encoding, 8 KB budget) and control messages."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import orjson

from orders_cli.sources.binance import urls


def test_stream_names_are_lowercase_symbol_then_camelcase_kind() -> None:
    assert urls.stream_name("BTCUSDT") == "btcusdt@aggTrade"
    assert urls.stream_name("1000SHIBUSDT") == "1000shibusdt@aggTrade"
    assert urls.stream_name("BTCUSD_PERP") == "btcusd_perp@aggTrade"
    assert urls.stream_name("币安人生USDT") == "币安人生usdt@aggTrade"


def test_connect_url_forms() -> None:
    base = "wss://stream.binance.com:9443"
    assert urls.connect_url(base, []) == f"{base}/stream"
    assert urls.connect_url(base + "/", ["btcusdt@aggTrade", "ethusdt@aggTrade"]) == (
        f"{base}/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
    )
    assert urls.connect_url("wss://fstream.binance.com/market", ["x@aggTrade"]) == (
        "wss://fstream.binance.com/market/stream?streams=x@aggTrade"
    )


def test_a_base_given_with_its_stream_path_is_not_doubled() -> None:
    """``--ws-url`` is the base endpoint, but a base copied with the raw or combined path
    (``…:9443/ws`` as ccxt writes it, ``…/stream``) must not become ``/ws/stream?streams=``:
    a Binance-like server reads that as a raw stream named ``stream`` and sends nothing."""
    want = "ws://h:1/stream?streams=btcusdt@aggTrade"
    for base in ("ws://h:1/ws", "ws://h:1/ws/", "ws://h:1/stream", "ws://h:1/stream/"):
        assert urls.connect_url(base, ["btcusdt@aggTrade"]) == want, base
        assert urls.connect_url(base, []) == "ws://h:1/stream", base
    assert urls.connect_url("ws://h:1/market/ws", ["x@aggTrade"]) == (
        "ws://h:1/market/stream?streams=x@aggTrade"
    )
    assert urls.max_streams_in_url("ws://h:1/ws", ["a@aggTrade"]) == 1
    # only the path is cut: hosts named like the paths stay
    assert urls.connect_url("ws://ws", []) == "ws://ws/stream"
    assert urls.connect_url("wss://stream:9443", []) == "wss://stream:9443/stream"


def test_non_ascii_symbol_is_percent_encoded_and_round_trips() -> None:
    name = urls.stream_name("币安人生USDT")
    url = urls.connect_url("wss://h:1", [name, "btcusdt@aggTrade"])
    url.encode("ascii")  # the URL itself is pure ASCII
    assert "%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9F" in url
    query = urlsplit(url).query
    assert query.startswith("streams=")
    assert unquote(query.removeprefix("streams=")).split("/") == [name, "btcusdt@aggTrade"]


def test_max_streams_in_url_keeps_the_url_under_the_budget() -> None:
    base = "wss://stream.binance.com:9443"
    names = [urls.stream_name(f"SYM{i:05d}USDT") for i in range(2000)]
    n = urls.max_streams_in_url(base, names)
    assert 300 < n < 2000
    assert len(urls.connect_url(base, names[:n])) <= urls.URL_MAX_BYTES
    assert len(urls.connect_url(base, names[: n + 1])) > urls.URL_MAX_BYTES
    cjk = [urls.stream_name(f"币安人生{i}USDT") for i in range(2000)]
    m = urls.max_streams_in_url(base, cjk)
    assert m < n
    assert (
        len(urls.connect_url(base, cjk[:m]))
        <= urls.URL_MAX_BYTES
        < len(urls.connect_url(base, cjk[: m + 1]))
    )
    assert urls.max_streams_in_url(base, names[:3]) == 3
    assert urls.max_streams_in_url(base, []) == 0


def test_control_messages() -> None:
    sub = orjson.loads(urls.subscribe_message(["btcusdt@aggTrade", "币安人生usdt@aggTrade"], 7))
    assert sub == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@aggTrade", "币安人生usdt@aggTrade"],
        "id": 7,
    }
    unsub = orjson.loads(urls.unsubscribe_message(["btcusdt@aggTrade"], 8))
    assert unsub == {"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 8}
