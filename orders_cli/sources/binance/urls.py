"""Stream names, WebSocket URLs and control messages (same forms on all Binance markets).

URL length: no documented limit, but common servers refuse request lines over 8 KB
(docs/binance.md §1.2). ``connect_url`` callers put at most ``max_streams_in_url`` streams in the
handshake (about 400 plain spot names fit in 8,000 bytes; far fewer CJK names, each
character being 9 bytes percent-encoded) and add the rest with paced SUBSCRIBE messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

AGG_TRADE = "aggTrade"
URL_MAX_BYTES = 8000  # keep the handshake request line under common 8 KB limits

# ASCII-only lowercasing: Binance symbols are uppercase ASCII or non-cased scripts (CJK),
# and str.lower() may change the length of some non-ASCII letters (e.g. "İ").
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def stream_name(symbol: str, kind: str = AGG_TRADE) -> str:
    """``BTCUSDT`` -> ``btcusdt@aggTrade`` (not URL-encoded; ``币安人生USDT`` ->
    ``币安人生usdt@aggTrade``)."""
    return f"{symbol.translate(_ASCII_LOWER)}@{kind}"


def encode_stream(name: str) -> str:
    """Percent-encode a stream name for a URL (UTF-8; ASCII names are unchanged)."""
    return quote(name, safe="@")


def _stream_base(ws_base: str, route: str = "") -> str:
    """``<base><route>/stream``. ``ws_base`` is the host base (scheme, host, port, an
    optional prefix); ``route`` is the market's routed path (``/market`` for USD-M
    aggTrade, empty elsewhere). A base given with the raw or combined path (``…/ws``,
    ``…/stream``: the forms client libraries configure) or with the route itself
    (``wss://fstream.binance.com/market``) is cut back to the host base first, so neither
    is doubled."""
    parts = urlsplit(ws_base)
    path = parts.path.rstrip("/")
    for suffix in ("/ws", "/stream"):
        path = path.removesuffix(suffix)
    if route:
        path = path.removesuffix(route)
    return urlunsplit(parts._replace(path=path + route, query="", fragment="")) + "/stream"


def connect_url(ws_base: str, streams: Sequence[str], *, route: str = "") -> str:
    """Combined-stream URL: ``<base><route>/stream?streams=a/b`` (``…/stream`` if empty)."""
    base = _stream_base(ws_base, route)
    if not streams:
        return base
    return base + "?streams=" + "/".join(encode_stream(s) for s in streams)


def max_streams_in_url(
    ws_base: str, streams: Sequence[str], max_bytes: int = URL_MAX_BYTES, *, route: str = ""
) -> int:
    """How many of ``streams`` (from the front) fit in a ``connect_url`` of at most
    ``max_bytes`` bytes. The caller subscribes the rest after the handshake."""
    size = len(_stream_base(ws_base, route)) + len("?streams=") - 1  # -1: first has no "/"
    count = 0
    for name in streams:
        size += 1 + len(encode_stream(name))
        if size > max_bytes:
            break
        count += 1
    return count


def _control(method: str, streams: Sequence[str], request_id: int) -> str:
    return orjson.dumps({"method": method, "params": list(streams), "id": request_id}).decode()


def subscribe_message(streams: Sequence[str], request_id: int) -> str:
    """``{"method":"SUBSCRIBE","params":[...],"id":N}`` (names not URL-encoded)."""
    return _control("SUBSCRIBE", streams, request_id)


def unsubscribe_message(streams: Sequence[str], request_id: int) -> str:
    return _control("UNSUBSCRIBE", streams, request_id)


def list_subscriptions_message(request_id: int) -> str:
    """``{"method":"LIST_SUBSCRIPTIONS","id":N}``: the reply's ``result`` lists the
    connection's streams."""
    return orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id}).decode()
