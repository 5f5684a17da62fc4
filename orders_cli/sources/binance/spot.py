"""Binance spot ``<symbol>@aggTrade`` (docs/binance.md)."""

from __future__ import annotations

from orders_cli.sources.base import Source, SourceLimits
from orders_cli.sources.binance.market import BinanceMarket

#: the official permission enum (binance-spot-api-docs enums.md); see exchange_info_request
SPOT_PERMISSIONS: tuple[str, ...] = (
    "SPOT",
    "MARGIN",
    "LEVERAGED",
    *(f"TRD_GRP_{n:03d}" for n in range(2, 26)),
)

SPOT_MARKET = BinanceMarket(
    name="spot",
    key_prefix="",
    limits=SourceLimits(
        max_streams_per_connection=1024,
        max_messages_per_second=5.0,
        connection_lifetime_s=24 * 3600.0,
        max_connects_per_5min=300,
        rest_weight_per_minute=6000,
        exchange_info_weight=20,
        agg_trades_weight=4,
        agg_trades_max_limit=1000,
        first_agg_id=0,
    ),
    default_ws_url="wss://stream.binance.com:9443",
    default_rest_url="https://api.binance.com",
    api_prefix="/api/v3",
    weight_pool="spot",
    exchange_info_permissions=SPOT_PERMISSIONS,
)

SPOT: Source = SPOT_MARKET
