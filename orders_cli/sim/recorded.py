"""The recorded spot exchangeInfo (2021) the simulator's symbols come from."""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import Any

import orjson

_POPULAR = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT")


@functools.cache
def exchange_info_2021() -> dict[str, Any]:
    """The recorded body of ``GET /api/v3/exchangeInfo`` (parsed once)."""
    ref = resources.files("orders_cli.sim") / "data" / "spot-exchangeInfo-2021.json.gz"
    data: dict[str, Any] = orjson.loads(gzip.decompress(ref.read_bytes()))
    return data


def fixture_symbols() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(TRADING, BREAK) symbol objects; well-known pairs first, then fixture order."""
    symbols = exchange_info_2021()["symbols"]
    rank = {name: i for i, name in enumerate(_POPULAR)}
    ordered = sorted(symbols, key=lambda s: rank.get(s["symbol"], len(rank)))
    trading = [s for s in ordered if s["status"] == "TRADING"]
    breaking = [s for s in ordered if s["status"] != "TRADING"]
    return trading, breaking
