"""Helpers for the simulator's futures tests: small USD-M / COIN-M universes and the
recorded futures frames they are compared with."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from orders_cli.sim import SimConfig, SymbolSpec
from tests.datafiles import BINANCE
from tests.sim.simhelpers import FAST

USDM_SYMBOLS = (
    SymbolSpec(
        "BTCUSDT", rate=200.0, first_id=0, price="58001.03", tick_size="0.01", step_size="0.001"
    ),
    SymbolSpec(
        "ETHUSDT",
        rate=100.0,
        first_id=700_000_000,
        price="2000.00",
        burst_p=0.5,
        tick_size="0.01",
        step_size="0.001",
    ),
    SymbolSpec("IDLEUSDT", rate=0.0, first_id=7),
    SymbolSpec("OLDUSDT", rate=10.0, status="SETTLING"),
)
COINM_SYMBOLS = (
    SymbolSpec(
        "BTCUSD_PERP",
        rate=200.0,
        first_id=49_681_086,
        price="60581.0",
        quote_asset="USD",
        base_asset="BTC",
        tick_size="0.1",
        step_size="1",
    ),
    SymbolSpec("OLDUSD_210625", rate=5.0, quote_asset="USD", base_asset="OLD", status="DELIVERED"),
)
SYMBOLS = {"usdm": USDM_SYMBOLS, "coinm": COINM_SYMBOLS}


def futures_config(market: str, **overrides: Any) -> SimConfig:
    base = SimConfig(market=market, seed=7, symbols=SYMBOLS[market], **FAST)
    return attrs.evolve(base, **overrides)


def recorded_frames(market: str) -> list[bytes]:
    """The recorded combined-stream frames of ``market`` (one JSON object a line)."""
    return (BINANCE / f"{market}-aggTrade-frames.jsonl").read_bytes().splitlines()


def shape(obj: Any) -> Any:
    """Keys in order with the JSON type of each value (recursively): what "the same
    shape" means when the values differ."""
    if isinstance(obj, dict):
        return [(k, shape(v)) for k, v in obj.items()]
    return type(obj).__name__


def frame_shape(raw: bytes) -> Any:
    return shape(orjson.loads(raw))
