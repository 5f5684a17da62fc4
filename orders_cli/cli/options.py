"""Shared typer options and validators, so every command reads the same ``ORDERS_*``
environment variables and rejects bad values the same way.

Validators raise :class:`click.BadParameter` (typer <0.20 is click-based), which
``orders_cli.cli.app.main`` prints as one line and exit 2. Use them as typer callbacks.
The output options every command takes and ``--watch`` are in
:mod:`orders_cli.cli.shared_options`.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click
import typer

from orders_cli.durations import parse_duration
from orders_cli.errors import UsageError
from orders_cli.redis_url import validate_redis_url
from orders_cli.sources.registry import SOURCES

MARKETS: tuple[str, ...] = tuple(SOURCES)  # the plug-in seam decides which markets exist
# letters and digits of any script (Binance lists names like 币安人生USDT), then also _ and -;
# never a brace, colon, slash, dot or space: names become key parts and archive paths
_SYMBOL = re.compile(r"[^\W_][\w\-]{0,39}")
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]+:?")


# --- pure checks (raise orders UsageError) -----------------------------------------------
def check_url(url: str, schemes: tuple[str, ...], what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://HOST[:PORT]" for s in schemes)
        raise UsageError(f"invalid {what} URL {url!r}: expected {wanted}")
    try:
        _ = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid {what} URL {url!r}: {exc}") from exc
    return url


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port} is out of range 1-65535")
    return port


def ensure_port_free(host: str, port: int) -> None:
    """Raise :class:`UsageError` ``"port N is in use"`` if ``host:port`` cannot be bound."""
    check_port(port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} is in use (on {host})") from exc
            if exc.errno == errno.EACCES:
                raise UsageError(f"port {port} needs privileges (on {host})") from exc
            raise UsageError(f"cannot bind {host}:{port}: {exc.strerror}") from exc


def parse_symbols(items: list[str] | tuple[str, ...]) -> list[str]:
    """``["btcusdt,ethusdt", "BNBUSDT"]`` -> ``["BTCUSDT", "ETHUSDT", "BNBUSDT"]`` (deduped,
    order kept)."""
    out: list[str] = []
    for item in items:
        for raw in item.replace(" ", ",").split(","):
            sym = raw.strip().upper()
            if not sym:
                continue
            if not _SYMBOL.fullmatch(sym):
                raise UsageError(
                    f"invalid symbol {raw!r}: expected letters and digits (any script), _ or -"
                )
            if sym not in out:
                out.append(sym)
    return out


def normalize_namespace(value: str) -> str:
    """``"prod"`` -> ``"prod:"``; ``""`` stays ``""``. No braces or spaces (hash tags)."""
    if value == "":
        return ""
    if not _NAMESPACE.fullmatch(value):
        raise UsageError(
            f"invalid namespace {value!r}: letters, digits, '_', '.', '-' (a ':' is appended)"
        )
    return value if value.endswith(":") else value + ":"


# --- typer callbacks (raise click.BadParameter) ------------------------------------------
def _bad(exc: UsageError) -> click.BadParameter:
    return click.BadParameter(str(exc))


def validate_redis_url_cb(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return validate_redis_url(value)
    except UsageError as exc:
        raise _bad(exc) from exc


_PAIR = re.compile(r"([a-z]+)=(.+)")


def _per_market(value: str, check: Callable[[str], str]) -> str:
    """One URL for every market, or ``MARKET=URL`` pairs comma-separated (Binance serves
    each market from its own hosts): each URL checked (and normalized) by ``check``."""
    if not _PAIR.fullmatch(value.split(",", 1)[0].strip()):
        return check(value)
    pairs = []
    for part in value.split(","):
        match = _PAIR.fullmatch(part.strip())
        if match is None or match[1] not in MARKETS:
            raise UsageError(
                f"{part.strip()!r}: expected one URL, or MARKET=URL pairs comma-separated "
                f"(MARKET one of {', '.join(MARKETS)})"
            )
        pairs.append(f"{match[1]}={check(match[2])}")
    return ",".join(pairs)


def url_for(value: str | None, market: str) -> str | None:
    """``market``'s URL in a checked ``--ws-url``/``--rest-url`` (None: its default)."""
    if value is None or not _PAIR.fullmatch(value.split(",", 1)[0]):
        return value
    pairs = dict(part.split("=", 1) for part in value.split(","))
    return pairs.get(market)


def validate_ws_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return _per_market(value, lambda url: check_url(url, ("ws", "wss"), "WebSocket"))
    except UsageError as exc:
        raise _bad(exc) from exc


# the sources' REST path prefixes ("/api/v3", ...): a base URL given with one is cut back
_API_PREFIXES = tuple(
    p for p in (getattr(src, "api_prefix", None) for src in SOURCES.values()) if isinstance(p, str)
)


def _rest_base(value: str) -> str:
    url = check_url(value, ("http", "https"), "REST").rstrip("/")
    for prefix in _API_PREFIXES:
        if urlsplit(url).path.endswith(prefix):
            return url.removesuffix(prefix)
    return url


def validate_rest_url(value: str | None) -> str | None:
    """The REST base URL without a trailing ``/`` or API prefix (``…/api/v3``, as client
    libraries configure it: the requests carry the prefix themselves); or one per market
    (``MARKET=URL`` pairs)."""
    if value is None or value == "":
        return None
    try:
        return _per_market(value, _rest_base)
    except UsageError as exc:
        raise _bad(exc) from exc


def validate_port(value: int | None) -> int | None:
    if value is None:
        return None
    try:
        return check_port(value)
    except UsageError as exc:
        raise _bad(exc) from exc


def validate_duration(value: str | None) -> str | None:
    """Checks the text; callers convert with :func:`orders_cli.durations.parse_duration`."""
    if value is None:
        return None
    try:
        parse_duration(value)
    except UsageError as exc:
        raise _bad(exc) from exc
    return value


def parse_markets(value: str, *, allow_all: bool = True) -> list[str]:
    """``spot``, ``usdm,coinm``, ``all`` -> the markets in order; a one-line
    :class:`UsageError` otherwise."""
    if allow_all and value.strip().lower() == "all":
        return list(MARKETS)
    markets = [m.strip().lower() for m in value.split(",") if m.strip()]
    unknown = [m for m in markets if m not in MARKETS]
    if unknown or not markets or len(set(markets)) != len(markets):
        every = " or all" if allow_all else ""
        raise UsageError(
            f"--market {value!r}: one or more of {', '.join(MARKETS)}, comma-separated, "
            f"each once{every} (e.g. --market spot,usdm,coinm)"
        )
    return markets


def validate_markets(value: str) -> str:
    """The ``--market`` list, checked and normalized (``"Spot, usdm"`` -> ``"spot,usdm"``);
    commands read it with :func:`parse_markets`."""
    try:
        return ",".join(parse_markets(value)) if value.strip().lower() != "all" else "all"
    except UsageError as exc:
        raise _bad(exc) from exc


def validate_market(value: str) -> str:
    market = value.strip().lower()
    if market not in MARKETS:
        raise click.BadParameter(f"unknown market {value!r}; expected one of {', '.join(MARKETS)}")
    return market


def validate_symbols(value: list[str] | None) -> list[str] | None:
    if not value:
        return None
    try:
        return parse_symbols(value)
    except UsageError as exc:
        raise _bad(exc) from exc


def validate_namespace(value: str) -> str:
    try:
        return normalize_namespace(value)
    except UsageError as exc:
        raise _bad(exc) from exc


def redis_url_option(help: str | None = None) -> Any:
    return typer.Option(
        None,
        "--redis-url",
        envvar="ORDERS_REDIS_URL",
        callback=validate_redis_url_cb,
        metavar="URL",
        show_default=False,
        help=help
        or "Redis to use: redis://HOST:PORT/DB, rediss://..., unix:///path.sock. "
        "Default: the embedded Redis (started if needed).",
    )


def ws_url_option(help: str | None = None) -> Any:
    return typer.Option(
        None,
        "--ws-url",
        envvar="ORDERS_WS_URL",
        callback=validate_ws_url,
        metavar="URL",
        show_default=False,
        help=help
        or "Override the exchange WebSocket host base (ws:// or wss://, host, port, optional "
        "prefix); the market appends its route: --market usdm --ws-url ws://127.0.0.1:9000 "
        "connects to ws://127.0.0.1:9000/market/stream?streams=... A base given with the "
        "route or /ws, /stream is not doubled. Several markets: one base for all, or "
        "MARKET=URL pairs (spot=ws://h:9080,usdm=ws://h:9080/usdm); unnamed ones keep "
        "their default.",
    )


def rest_url_option(help: str | None = None) -> Any:
    return typer.Option(
        None,
        "--rest-url",
        envvar="ORDERS_REST_URL",
        callback=validate_rest_url,
        metavar="URL",
        show_default=False,
        help=help
        or "Override the exchange REST host base (http:// or https://, optional prefix); the "
        "market appends its path (/api/v3, /fapi/v1, /dapi/v1), which is cut back if given. "
        "Several markets: one base for all, or MARKET=URL pairs (unnamed ones keep their "
        "default).",
    )


def market_option(default: str = "spot", help: str | None = None) -> Any:
    return typer.Option(
        default,
        "--market",
        envvar="ORDERS_MARKET",
        callback=validate_market,
        metavar="|".join(MARKETS),
        help=help or "Binance market: spot, usdm (USD-M futures) or coinm (COIN-M futures).",
    )


def markets_option(default: str = "spot", help: str = "") -> Any:
    """``--market`` taking one market, several comma-separated, or ``all``."""
    return typer.Option(
        default,
        "--market",
        envvar="ORDERS_MARKET",
        callback=validate_markets,
        metavar="MARKET[,MARKET...]|all",
        help=help
        or "Binance market(s): spot, usdm (USD-M futures), coinm (COIN-M futures), several "
        "comma-separated, or all.",
    )


def validate_ws_client(value: str) -> str:
    from orders_cli.ws.wsopen import ws_client_kind

    try:
        return ws_client_kind(value.strip().lower())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def ws_client_option() -> Any:
    return typer.Option(
        "wsproto",
        "--ws-client",
        envvar="ORDERS_WS_CLIENT",
        callback=validate_ws_client,
        metavar="wsproto|trio-websocket",
        help="WebSocket client of the shards: wsproto (lean, default) or trio-websocket.",
    )


def symbols_option(help: str | None = None) -> Any:
    """Repeatable / comma-separated; ``ORDERS_SYMBOLS`` is space- or comma-separated."""
    return typer.Option(
        None,
        "--symbols",
        envvar="ORDERS_SYMBOLS",
        callback=validate_symbols,
        metavar="SYM[,SYM...]",
        show_default=False,
        help=help or "Only these symbols (comma-separated or repeated). Default: all.",
    )


def namespace_option(help: str | None = None) -> Any:
    return typer.Option(
        "",
        "--namespace",
        envvar="ORDERS_NAMESPACE",
        callback=validate_namespace,
        metavar="NAME",
        show_default=False,
        help=help or "Prefix every key with NAME: (for a Redis shared with other programs).",
    )


def port_option(name: str, envvar: str, default: int | None = None, help: str = "") -> Any:
    """A TCP port option (1-65535), e.g. ``port_option("--metrics-port",
    "ORDERS_METRICS_PORT")``. Check it is free with :func:`ensure_port_free`."""
    return typer.Option(
        default,
        name,
        envvar=envvar,
        callback=validate_port,
        metavar="PORT",
        show_default=default is not None,
        help=help,
    )


def duration_option(name: str, envvar: str, default: str | None, help: str = "") -> Any:
    """A duration option (``24h``, ``90s``, ``1h30m``); the value stays text."""
    return typer.Option(
        default,
        name,
        envvar=envvar,
        callback=validate_duration,
        metavar="DURATION",
        show_default=default is not None,
        help=help,
    )


def stream_retention_option() -> Any:
    """``--stream-retention``: how long ``trades:{S}:stream`` (the log ``tail`` follows)
    keeps entries; the ZSET keeps the full retention. Shared by ``run`` and ``prune``."""
    return duration_option(
        "--stream-retention",
        "ORDERS_STREAM_RETENTION",
        "1h",
        help=(
            "Keep the per-symbol stream (what `tail` follows live) this long; never more "
            "than the trades' retention. `tail --since` further back reads the trades "
            "ZSET; `verify` checks the stream only inside this window."
        ),
    )
