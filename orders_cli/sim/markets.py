"""The three Binance markets the simulator serves, as data: REST paths and weights, the
weight pool, history and time-span rules, WebSocket routes and the frame form
(docs/binance.md §1.1, §2.2, §3.2-§3.4). What a test may want to change (limits, windows)
lives in ``SimConfig``; this table holds what makes a market that market."""

from __future__ import annotations

from typing import Any

import attrs

HOUR_MS = 3_600_000


@attrs.frozen
class MarketRules:
    name: str
    rest_prefix: str  # "/api/v3", "/fapi/v1", "/dapi/v1"
    # path suffix -> request weight (§3.2, §3.3); klines as at the default limit
    weights: dict[str, int]
    pool: str  # markets with the same pool share one weight budget (§3.4)
    status_key: str  # "status", or "contractStatus" on COIN-M (§3.2)
    exchange_info_file: str  # the recorded body in sim/data/
    futures: bool  # frame form without "M", f..l holes, 1 h span, fromId alone (§2, §3.3)
    first_agg_id: int  # the first aggregate id a symbol can have (§2.4)
    # WebSocket routes: the path before /ws or /stream that delivers aggTrade; routes
    # that are accepted but never deliver aggTrade (USD-M's root and /public, §1.1)
    ws_route: str
    silent_routes: tuple[str, ...] = ()
    # defaults of the tunable limits (SimConfig fields of the same names)
    max_msgs_per_s: int = 5
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    weight_budget: int = 6000
    rest_history_s: float | None = None  # None: every trade stays in REST

    @property
    def max_span_ms(self) -> int | None:
        """startTime and endTime together must span less than this (-1127)."""
        return HOUR_MS if self.futures else None


_SPOT_WEIGHTS = {"/ping": 1, "/time": 1, "/exchangeInfo": 20, "/aggTrades": 4, "/klines": 2}
_FUTURES_WEIGHTS = {"/ping": 1, "/time": 1, "/exchangeInfo": 1, "/aggTrades": 20, "/klines": 5}


def _futures(**kw: Any) -> MarketRules:
    """A futures market: shared pool, 10 msgs/s, 3 min pings, ids from 1 (§1.3, §2.4)."""
    return MarketRules(
        weights=_FUTURES_WEIGHTS,
        pool="futures",
        futures=True,
        # stated for USD-M; COIN-M runs on the same engine since 2026-06 (assumed there)
        first_agg_id=1,
        max_msgs_per_s=10,
        ping_interval_s=180.0,
        pong_timeout_s=600.0,
        weight_budget=2400,
        **kw,
    )


SPOT = MarketRules(
    name="spot",
    rest_prefix="/api/v3",
    weights=_SPOT_WEIGHTS,
    pool="spot",
    status_key="status",
    exchange_info_file="spot-exchangeInfo-2021.json.gz",
    futures=False,
    first_agg_id=0,
    ws_route="",
)
USDM = _futures(
    name="usdm",
    rest_prefix="/fapi/v1",
    status_key="status",
    exchange_info_file="usdm-exchangeInfo-2021.json.gz",
    ws_route="/market",
    silent_routes=("", "/public"),
    rest_history_s=48 * 3600.0,
)
COINM = _futures(
    name="coinm",
    rest_prefix="/dapi/v1",
    status_key="contractStatus",
    exchange_info_file="coinm-exchangeInfo-2021.json.gz",
    ws_route="",
    rest_history_s=24 * 3600.0,
)

MARKETS: dict[str, MarketRules] = {m.name: m for m in (SPOT, USDM, COINM)}


def rules(name: str) -> MarketRules:
    try:
        return MARKETS[name]
    except KeyError:
        raise ValueError(f"unknown market {name!r}; known: {', '.join(MARKETS)}") from None
