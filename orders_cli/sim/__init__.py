"""A Binance-compatible simulator (WebSocket Streams + REST), independent of the rest of
orders: nothing here imports from ``orders_cli`` outside ``orders_cli.sim``."""

from __future__ import annotations

from orders_cli.sim.config import Faults, FaultSpec, SimConfig, SymbolSpec
from orders_cli.sim.simulator import Simulator

__all__ = ["FaultSpec", "Faults", "SimConfig", "Simulator", "SymbolSpec"]
