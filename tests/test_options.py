"""Durations, URL/port validators, the shared ORDERS_* options, and redis_conn."""

from __future__ import annotations

import socket
from typing import Any

import click
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from orders_cli import redis_conn
from orders_cli.cli import options, shared_options
from orders_cli.cli.console import Output
from orders_cli.durations import format_duration, parse_duration, parse_duration_ms
from orders_cli.errors import RedisUnavailable, UsageError
from orders_cli.redis_conn import ServerFacts, check, connect, eviction_warning
from orders_cli.redis_url import redact, validate_redis_url
from tests.redis_server import RedisServer, free_port


# --- durations -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400.0),
        ("10m", 600.0),
        ("90s", 90.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2w", 14 * 86400.0),
        (" 1D ", 86400.0),
        ("1d2h3m4s5ms", 86400 + 7200 + 180 + 4 + 0.005),
        ("0s", 0.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "junk", ["", "h", "10", "1.5", "10x", "-5m", "1m1h", "1h1h", "1h 30m", "abc", "1e3s", "5mss"]
)
def test_parse_duration_rejects_junk(junk: str) -> None:
    with pytest.raises(UsageError, match="duration"):
        parse_duration(junk)


def test_bare_number_says_unit_is_missing() -> None:
    with pytest.raises(UsageError, match="missing unit"):
        parse_duration("30")


@given(st.integers(min_value=0, max_value=400 * 86400 * 1000))
def test_format_then_parse_roundtrips(ms: int) -> None:
    assert parse_duration_ms(format_duration(ms / 1000)) == ms


def test_format_duration_examples() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.5) == "500ms"
    assert format_duration(0) == "0s"
    assert format_duration(86400) == "1d"


# --- pure validators ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6380/0",
        "redis://h",
        "redis://h/",
        "rediss://user:pw@h:6380/2",
        "unix:///tmp/r.sock",
    ],
)
def test_redis_urls_accepted(url: str) -> None:
    assert validate_redis_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://h:6379",
        "127.0.0.1:6379",
        "redis://",
        "unix://",
        "redis://h:99999",
        "",
        "redis://h:6390/abc",
        "redis://h/1/2",
    ],
)
def test_redis_urls_rejected(url: str) -> None:
    with pytest.raises(UsageError):
        validate_redis_url(url)
    with pytest.raises(UsageError):
        connect(url)


def test_redact_hides_password() -> None:
    assert redact("redis://u:secret@h:1/0") == "redis://u:***@h:1/0"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_ensure_port_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} is in use"):
            options.ensure_port_free("127.0.0.1", port)
    options.ensure_port_free("127.0.0.1", free_port())
    with pytest.raises(UsageError, match="out of range"):
        options.ensure_port_free("127.0.0.1", 70000)


def test_non_ascii_symbols_are_accepted_like_any_other() -> None:
    assert options.parse_symbols(["币安人生usdt", "我踏马来了USDT,btcusdt"]) == [
        "币安人生USDT",
        "我踏马来了USDT",
        "BTCUSDT",
    ]


def test_parse_symbols_and_namespace() -> None:
    assert options.parse_symbols(["btcusdt,ethusdt", "BTCUSDT", " bnbusdt "]) == [
        "BTCUSDT",
        "ETHUSDT",
        "BNBUSDT",
    ]
    for bad in ("BTC{USDT}", "../X", "a/b", "a:b", "a.b", "_X", "a\tb"):
        with pytest.raises(UsageError):
            options.parse_symbols([bad])
    assert options.normalize_namespace("prod") == "prod:"
    assert options.normalize_namespace("prod:") == "prod:"
    assert options.normalize_namespace("") == ""
    with pytest.raises(UsageError):
        options.normalize_namespace("a b{c}")


# --- the option factories (and the shared ones) inside a real click command -----------
def _command() -> click.Command:
    app = typer.Typer()
    seen: dict[str, Any] = {}

    @app.command()
    @shared_options.shared("a test document")
    def cmd(
        redis_url: str | None = options.redis_url_option(),
        ws_url: str | None = options.ws_url_option(),
        rest_url: str | None = options.rest_url_option(),
        market: str = options.market_option(),
        symbols: list[str] | None = options.symbols_option(),  # noqa: B008  # typer idiom
        namespace: str = options.namespace_option(),
        port: int | None = options.port_option("--metrics-port", "ORDERS_METRICS_PORT"),
        keep: str = options.duration_option("--keep", "ORDERS_KEEP", "24h"),
        *,
        out: Output,
    ) -> None:
        seen.update(locals())

    command = typer.main.get_command(app)
    command.seen = seen  # type: ignore[attr-defined]  # test-only handle on the values
    return command


def _invoke(args: list[str]) -> dict[str, Any]:
    command = _command()
    command.main(args=args, standalone_mode=False)
    seen: dict[str, Any] = command.seen  # type: ignore[attr-defined]  # set in _command
    return seen


def test_defaults() -> None:
    seen = _invoke([])
    assert seen["redis_url"] is None  # = embedded
    assert seen["ws_url"] is None
    assert seen["market"] == "spot"
    assert seen["symbols"] is None
    assert seen["out"].forced is False  # the output rule decides (stdout: a tty or not)
    assert seen["namespace"] == ""
    assert seen["keep"] == "24h"


def test_every_option_reads_its_orders_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "ORDERS_REDIS_URL": "unix:///tmp/x.sock",
        "ORDERS_WS_URL": "ws://127.0.0.1:9000",
        "ORDERS_REST_URL": "http://127.0.0.1:9001/",
        "ORDERS_MARKET": "USDM",
        "ORDERS_SYMBOLS": "btcusdt ethusdt",
        "ORDERS_JSON": "1",
        "ORDERS_NAMESPACE": "prod",
        "ORDERS_METRICS_PORT": "9100",
        "ORDERS_KEEP": "1h30m",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen = _invoke([])
    assert seen["redis_url"] == "unix:///tmp/x.sock"
    assert seen["ws_url"] == "ws://127.0.0.1:9000"
    assert seen["rest_url"] == "http://127.0.0.1:9001"
    assert seen["market"] == "usdm"
    assert seen["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert seen["out"].json is True and seen["out"].forced is True
    assert seen["namespace"] == "prod:"
    assert seen["port"] == 9100
    assert seen["keep"] == "1h30m"


def test_flags_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_MARKET", "usdm")
    assert _invoke(["--market", "coinm"])["market"] == "coinm"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--redis-url", "http://x"], "--redis-url"),
        (["--ws-url", "http://x"], "--ws-url"),
        (["--rest-url", "ws://x"], "--rest-url"),
        (["--market", "margin"], "--market"),
        (["--symbols", "BTC$"], "--symbols"),
        (["--namespace", "a{b}"], "--namespace"),
        (["--metrics-port", "0"], "--metrics-port"),
        (["--keep", "forever"], "--keep"),
    ],
)
def test_bad_values_are_click_usage_errors(args: list[str], needle: str) -> None:
    with pytest.raises(click.BadParameter) as info:
        _invoke(args)
    message = info.value.format_message()
    assert needle in message
    assert "\n" not in message


# --- redis_conn against a private server ------------------------------------------------
def test_check_reads_server_facts(redis_server: RedisServer) -> None:
    facts = check(redis_server.url)
    assert facts.version
    assert facts.used_memory > 0
    assert facts.maxmemory == 0
    assert facts.maxmemory_policy == "noeviction"
    assert eviction_warning(facts) is None


def test_check_warns_when_server_can_evict(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.config_set("maxmemory", "100mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    warning = eviction_warning(check(redis_server.url))
    assert warning is not None
    assert "allkeys-lru" in warning
    assert "\n" not in warning


@pytest.mark.parametrize(
    ("maxmemory", "policy", "warns"),
    [
        (0, "noeviction", False),
        (0, "allkeys-lru", False),  # no limit: nothing is ever evicted
        (1 << 20, "noeviction", False),
        (1 << 20, "volatile-ttl", True),
        (1 << 20, "allkeys-random", True),
    ],
)
def test_eviction_rule(maxmemory: int, policy: str, warns: bool) -> None:
    facts = ServerFacts("redis://h", "7.0", 1, maxmemory, policy)
    assert (eviction_warning(facts) is not None) is warns


def test_check_unreachable_is_redis_unavailable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(
        RedisUnavailable, match=r"cannot reach Redis at redis://127\.0\.0\.1"
    ) as info:
        check(url)
    assert "\n" not in str(info.value)


def test_check_frozen_server_times_out(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_conn, "SOCKET_TIMEOUT_S", 0.2)
    redis_server.pause()
    try:
        with pytest.raises(RedisUnavailable, match="cannot reach Redis"):
            check(redis_server.url)
    finally:
        redis_server.resume()


def test_rest_url_given_with_its_api_prefix_is_cut_back() -> None:
    """ccxt-style bases (``…/api/v3``) would make every request ``/api/v3/api/v3/…`` (404,
    so no exchangeInfo and no run): the prefix is the requests' own."""
    for value, want in [
        ("http://127.0.0.1:9001/api/v3", "http://127.0.0.1:9001"),
        ("http://127.0.0.1:9001/api/v3/", "http://127.0.0.1:9001"),
        ("https://fapi.binance.com/fapi/v1", "https://fapi.binance.com"),
        ("http://h/proxy/dapi/v1", "http://h/proxy"),
        ("http://h/proxy", "http://h/proxy"),
    ]:
        assert _invoke(["--rest-url", value])["rest_url"] == want, value


def test_url_options_take_one_url_per_market_for_a_run_of_several() -> None:
    """Binance serves each market from its own hosts (a simulator of several markets: its
    own paths): --ws-url/--rest-url take MARKET=URL pairs; a market not named keeps its
    default, a plain URL is every market's."""
    seen = _invoke(
        [
            "--ws-url",
            "spot=ws://h:9000,usdm=ws://h:9000/usdm",
            "--rest-url",
            "usdm=http://h/fapi/v1",
        ]
    )
    assert seen["ws_url"] == "spot=ws://h:9000,usdm=ws://h:9000/usdm"
    assert seen["rest_url"] == "usdm=http://h"  # the API prefix cut back, per market
    assert options.url_for(seen["ws_url"], "usdm") == "ws://h:9000/usdm"
    assert options.url_for(seen["ws_url"], "coinm") is None  # its default
    assert options.url_for("ws://h:1", "coinm") == "ws://h:1"
    assert options.url_for(None, "spot") is None
    for args in (["--ws-url", "margin=ws://h:1"], ["--rest-url", "usdm=ws://h:1"]):
        with pytest.raises(click.BadParameter) as info:
            _invoke(args)
        assert args[0] in info.value.format_message()
