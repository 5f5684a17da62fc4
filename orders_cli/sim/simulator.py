"""The public face of the simulator: ``Simulator(cfg)``, ``await nursery.start(sim.serve)``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import trio

from orders_cli.sim.config import SimConfig, SymbolSpec
from orders_cli.sim.engine import Engine
from orders_cli.sim.restserver import HttpServer, WeightLimiter
from orders_cli.sim.routes import Routes
from orders_cli.sim.wsserver import WsGateway


class Simulator:
    """A fake Binance spot exchange (WebSocket Streams + REST) on loopback."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.engine = Engine(cfg)
        self.gateway = WsGateway(self.engine)
        self.ws_port = 0
        self.rest_port = 0
        self._listeners: tuple[list[trio.SocketListener], list[trio.SocketListener]] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.cfg.host}:{self.ws_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.cfg.host}:{self.rest_port}"

    @property
    def instance(self) -> str:
        """This simulator's id, served in exchangeInfo (``fixture.SIMULATOR_MARK``)."""
        return self.engine.instance

    @property
    def stats(self) -> Counter[str]:
        """Counters: ws_connections, frames_sent, trades, rest:<path>, rest_429, ..."""
        return self.engine.stats

    async def bind(self) -> None:
        """Open both listening sockets (idempotent). Raises OSError (errno EADDRINUSE)
        when a configured port is taken; nothing is left open then."""
        if self._listeners is not None:
            return
        host = self.cfg.host
        ws = await trio.open_tcp_listeners(self.cfg.ws_port, host=host)
        try:
            rest = await trio.open_tcp_listeners(self.cfg.rest_port, host=host)
        except OSError:
            for listener in ws:
                await listener.aclose()
            raise
        self.ws_port = ws[0].socket.getsockname()[1]
        self.rest_port = rest[0].socket.getsockname()[1]
        self._listeners = (ws, rest)

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind (unless ``bind()`` was awaited), start generating and serving, then
        ``task_status.started()``. Runs until cancelled."""
        await self.bind()
        assert self._listeners is not None
        ws, rest = self._listeners
        async with trio.open_nursery() as nursery:
            await nursery.start(self.engine.run)
            await nursery.start(self.gateway.serve, ws)
            limiter = WeightLimiter(self.cfg)
            http = HttpServer(self.engine, limiter, Routes(self.engine, limiter))
            await nursery.start(http.serve, rest)
            task_status.started()

    # -- control -------------------------------------------------------------------------
    def set_status(self, symbol: str, status: str) -> None:
        """E.g. ``"BREAK"``: the symbol stops trading (and emitting) at once."""
        self.engine.set_status(symbol, status)

    def list_symbol(self, spec: SymbolSpec) -> None:
        """A new listing: appears in exchangeInfo and starts trading now."""
        self.engine.list_symbol(spec)

    def stop_trading(self) -> None:
        """Freeze generation (connections stay open) for final comparisons."""
        self.engine.frozen = True

    def abort_connections(self) -> int:
        """Abruptly reset every open WebSocket connection (TCP RST); returns how many."""
        clients = list(self.gateway.clients)
        for client in clients:
            client.abort()
        return len(clients)

    # -- truth ---------------------------------------------------------------------------
    def truth_by_symbol(self) -> dict[str, list[dict[str, Any]]]:
        """Every trade generated so far, per symbol, in id order (dropped ones included)."""
        return {
            sym: [book.truth_row(i) for i in range(len(book))]
            for sym, book in self.engine.books.items()
        }

    def truth(self) -> list[dict[str, Any]]:
        return [row for rows in self.truth_by_symbol().values() for row in rows]

    def write_truth(self, path: str | Path) -> int:
        """Write the truth as JSONL; returns the number of lines."""
        n = 0
        with open(path, "wb") as fh:
            for book in self.engine.books.values():
                for i in range(len(book)):
                    fh.write(orjson.dumps(book.truth_row(i)) + b"\n")
                    n += 1
        return n
