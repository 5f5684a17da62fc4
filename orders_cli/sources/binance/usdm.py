"""Binance USD-M futures ``<symbol>@aggTrade`` (docs/binance.md).

aggTrade lives on the routed ``/market`` path (the root URL accepts and stays silent since
2026-04-23): the route is the source's (``ws_route``), appended to any host base, the
default or ``--ws-url``. Streams per connection: docs conflict (1024 vs 200); 200 is the
safe cap.
"""

from __future__ import annotations

from orders_cli.sources.base import Source, SourceLimits
from orders_cli.sources.binance.market import BinanceMarket

USDM_MARKET = BinanceMarket(
    name="usdm",
    key_prefix="usdm:",
    limits=SourceLimits(
        max_streams_per_connection=200,
        max_messages_per_second=10.0,
        connection_lifetime_s=24 * 3600.0,
        max_connects_per_5min=300,  # not stated for UM (unverified): spot's figure
        rest_weight_per_minute=2400,
        exchange_info_weight=1,
        agg_trades_weight=20,
        agg_trades_max_limit=1000,
        first_agg_id=1,
    ),
    default_ws_url="wss://fstream.binance.com",
    ws_route="/market",
    default_rest_url="https://fapi.binance.com",
    api_prefix="/fapi/v1",
    weight_pool="futures",
    max_time_window_ms=3_600_000,
    from_id_excludes_time=True,
    rest_history_ms=48 * 3_600_000,
)

USDM: Source = USDM_MARKET
