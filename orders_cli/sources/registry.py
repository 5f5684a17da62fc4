"""The explicit registry of live trade sources, by market name."""

from __future__ import annotations

from orders_cli.errors import UsageError
from orders_cli.sources.base import Source
from orders_cli.sources.binance.coinm import COINM
from orders_cli.sources.binance.spot import SPOT
from orders_cli.sources.binance.usdm import USDM

SOURCES: dict[str, Source] = {
    "spot": SPOT,
    "usdm": USDM,
    "coinm": COINM,
}


def get_source(name: str) -> Source:
    """The source called ``name``; ``UsageError`` listing the known names otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(SOURCES)
        raise UsageError(f"unknown market {name!r}; known: {known}") from None
