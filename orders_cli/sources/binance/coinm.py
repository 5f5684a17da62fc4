"""Binance COIN-M futures ``<symbol>@aggTrade`` (docs/binance.md).

Shares the UM 2400/min REST weight pool since 2026-06-30 (two ingesters of usdm+coinm
on one IP must split it). exchangeInfo says ``contractStatus`` (handled by the parser).
First aggregate id: not documented for CM; assumed 1 as on UM (unverified).
"""

from __future__ import annotations

from orders_cli.sources.base import Source, SourceLimits
from orders_cli.sources.binance.market import BinanceMarket

COINM_MARKET = BinanceMarket(
    name="coinm",
    key_prefix="coinm:",
    limits=SourceLimits(
        max_streams_per_connection=200,
        max_messages_per_second=10.0,
        connection_lifetime_s=24 * 3600.0,
        max_connects_per_5min=300,  # not stated for CM (unverified)
        rest_weight_per_minute=2400,
        exchange_info_weight=1,
        agg_trades_weight=20,
        agg_trades_max_limit=1000,
        first_agg_id=1,
    ),
    default_ws_url="wss://dstream.binance.com",
    default_rest_url="https://dapi.binance.com",
    api_prefix="/dapi/v1",
    weight_pool="futures",
    max_time_window_ms=3_600_000,
    from_id_excludes_time=True,
    rest_history_ms=24 * 3_600_000,
)

COINM: Source = COINM_MARKET
