"""Exchange info as the simulator serves it: the recorded 2021 shape (sim/recorded.py),
on spot with the modern fields added on top of it; futures keep the recorded shape
(COIN-M names the status ``contractStatus``)."""

from __future__ import annotations

from typing import Any

from orders_cli.sim.book import decimals
from orders_cli.sim.config import SymbolSpec
from orders_cli.sim.markets import SPOT, MarketRules
from orders_cli.sim.recorded import exchange_info_2021

SIMULATOR_MARK = "ordersSimulator"
"""The top-level exchangeInfo field naming the simulator instance that serves it: a run
knows it ingests simulator data by what it is served (Binance never sends this field)."""

_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


def symbol_object(spec: SymbolSpec, status: str, market: MarketRules = SPOT) -> dict[str, Any]:
    """The market's exchangeInfo symbol object for ``spec``."""
    if market.futures:
        return _futures_object(spec, status, market)
    return _spot_object(spec, status)


def _futures_object(spec: SymbolSpec, status: str, market: MarketRules) -> dict[str, Any]:
    """The recorded object of the symbol, or of the market's first recorded symbol with
    this one's names and sizes put in (same keys in the same order)."""
    if spec.info is not None:
        obj = dict(spec.info)
    else:
        obj = dict(exchange_info_2021(market)["symbols"][0])
        pair = spec.symbol.split("_", 1)[0]
        obj.update(
            symbol=spec.symbol,
            pair=pair,
            baseAsset=spec.base,
            quoteAsset=spec.quote_asset,
            marginAsset=spec.base if market.status_key == "contractStatus" else spec.quote_asset,
            pricePrecision=decimals(spec.tick_size),
            quantityPrecision=decimals(spec.step_size),
        )
        sizes = {
            "PRICE_FILTER": ("tickSize", spec.tick_size),
            "LOT_SIZE": ("stepSize", spec.step_size),
        }
        filters = []
        for f in obj["filters"]:
            f = dict(f)
            if f["filterType"] in sizes:
                key, size = sizes[f["filterType"]]
                f[key] = size
            filters.append(f)
        obj["filters"] = filters
    obj[market.status_key] = status
    return obj


def _spot_object(spec: SymbolSpec, status: str) -> dict[str, Any]:
    """A modern spot exchangeInfo symbol object for ``spec`` (2021 shape + 2026 fields)."""
    if spec.info is not None:
        obj = dict(spec.info)
    else:
        obj = {
            "symbol": spec.symbol,
            "status": status,
            "baseAsset": spec.base,
            "baseAssetPrecision": 8,
            "quoteAsset": spec.quote_asset,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": spec.tick_size,
                    "maxPrice": "1000000.00000000",
                    "tickSize": spec.tick_size,
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": spec.step_size,
                    "maxQty": "9000000.00000000",
                    "stepSize": spec.step_size,
                },
            ],
        }
    obj["status"] = status
    obj["otoAllowed"] = True
    obj["cancelReplaceAllowed"] = True
    obj["allowTrailingStop"] = True
    obj["defaultSelfTradePreventionMode"] = "EXPIRE_MAKER"
    obj["allowedSelfTradePreventionModes"] = ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
    obj["permissions"] = []
    if spec.info is not None and spec.permission_sets == (("SPOT",),):
        sets = [list(spec.info.get("permissions", ["SPOT"]))]
    else:
        sets = [list(s) for s in spec.permission_sets]
    obj["permissionSets"] = sets
    return obj


def visible_by_default(obj: dict[str, Any]) -> bool:
    """Without ``permissions``, only SPOT/MARGIN/LEVERAGED symbols are listed."""
    perms = {p for group in obj.get("permissionSets", []) for p in group}
    return bool(perms & {"SPOT", "MARGIN", "LEVERAGED"})


def top_level(
    server_time: int, weight_budget: int, instance: str, market: MarketRules = SPOT
) -> dict[str, Any]:
    """Everything but ``symbols``: spot's modern keys, the futures' recorded ones, and the
    simulator's mark (``SIMULATOR_MARK``)."""
    info = exchange_info_2021(market)
    limits = [dict(x) for x in info["rateLimits"]]
    for lim in limits:
        if lim["rateLimitType"] == "REQUEST_WEIGHT":
            lim["limit"] = weight_budget
    if market.futures:
        body = {k: v for k, v in info.items() if k != "symbols"}
        body.update(serverTime=server_time, rateLimits=limits)
        body[SIMULATOR_MARK] = instance
        return body
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": limits,
        "exchangeFilters": [],
        SIMULATOR_MARK: instance,
    }
