"""The recorded exchangeInfo bodies (2021) the simulator's symbols come from, one per
market (sim/data/, gzipped copies of the bodies in the tests' data)."""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import Any

import orjson

from orders_cli.sim.markets import SPOT, MarketRules

_POPULAR = (
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "BTCUSD_PERP",
    "ETHUSD_PERP",
)


def exchange_info_2021(market: MarketRules = SPOT) -> dict[str, Any]:
    """The recorded body of the market's ``GET …/exchangeInfo`` (parsed once)."""
    return _load(market.exchange_info_file)


@functools.cache
def _load(name: str) -> dict[str, Any]:
    ref = resources.files("orders_cli.sim") / "data" / name
    data: dict[str, Any] = orjson.loads(gzip.decompress(ref.read_bytes()))
    return data


def fixture_symbols(
    market: MarketRules = SPOT,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(TRADING, not TRADING) symbol objects; well-known pairs first, then fixture order."""
    symbols = exchange_info_2021(market)["symbols"]
    rank = {name: i for i, name in enumerate(_POPULAR)}
    ordered = sorted(symbols, key=lambda s: rank.get(s["symbol"], len(rank)))
    key = market.status_key
    trading = [s for s in ordered if s[key] == "TRADING"]
    others = [s for s in ordered if s[key] != "TRADING"]
    return trading, others
