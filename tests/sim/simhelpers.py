"""Helpers for simulator tests: a running sim, a raw (non-ponging) WebSocket client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import Request

from orders_cli.sim import SimConfig, Simulator, SymbolSpec

FAST = {
    "ping_interval_s": 30.0,
    "pong_timeout_s": 30.0,
    "tick_s": 0.005,
}


def small_config(**overrides: Any) -> SimConfig:
    symbols = [
        SymbolSpec("BTCUSDT", rate=200.0, first_id=2**31 + 10, price="58001.03000000"),
        SymbolSpec("ETHUSDT", rate=100.0, first_id=0, price="2000.00000000", burst_p=0.5),
        SymbolSpec(
            "币安人生USDT",
            rate=50.0,
            first_id=5,
            price="0.12340000",
            tick_size="0.00010000",
            step_size="1.00000000",
        ),
        SymbolSpec("IDLEUSDT", rate=0.0, first_id=7),
        SymbolSpec("OLDUSDT", rate=10.0, status="BREAK"),
        SymbolSpec("GRPUSDT", rate=1.0, permission_sets=(("TRD_GRP_005",),)),
    ]
    base = SimConfig(seed=7, symbols=symbols, **FAST)
    return attrs.evolve(base, **overrides)


@asynccontextmanager
async def running(cfg: SimConfig | None = None) -> AsyncIterator[Simulator]:
    sim = Simulator(cfg or small_config())
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            await nursery.start(sim.serve)
        yield sim
        nursery.cancel_scope.cancel()


class RawWs:
    """A WebSocket client that never answers pings (wsproto over a trio socket)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def connect(cls, port: int, target: str) -> RawWs:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        self = cls(stream)
        await stream.send_all(self.ws.send(Request(host="127.0.0.1", target=target)))
        return self

    async def events(self) -> list[Any]:
        """Next batch of events; [] at EOF."""
        data = await self.stream.receive_some(65536)
        self.ws.receive_data(data or None)
        return list(self.ws.events())
