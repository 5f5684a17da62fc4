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
from orders_cli.sim.routes import RestFront, Routes
from orders_cli.sim.wsserver import WsGateway


class Simulator:
    """A fake Binance exchange (WebSocket Streams + REST) on loopback, serving one market
    per config: ``Simulator(SimConfig(market="usdm"))``, or several at once on the same
    two ports (``Simulator(spot_cfg, usdm_cfg, coinm_cfg)``). The first config gives the
    host and ports and owns the bare WebSocket paths; every market is also reachable
    under ``/<market>`` (``ws_url_for``). REST paths carry the market already."""

    def __init__(self, cfg: SimConfig, *more: SimConfig) -> None:
        self.cfg = cfg
        configs = (cfg, *more)
        names = [c.market for c in configs]
        if len(set(names)) != len(names):
            raise ValueError(f"one config per market: {names}")
        stats: Counter[str] = Counter()
        self.engines = {c.market: Engine(c, stats) for c in configs}
        self.engine = self.engines[cfg.market]
        self.gateway = WsGateway(list(self.engines.values()))
        self.ws_port = 0
        self.rest_port = 0
        # per weight pool ("spot", "futures"), made by serve() (they read trio's clock)
        self.limiters: dict[str, WeightLimiter] = {}
        self._listeners: tuple[list[trio.SocketListener], list[trio.SocketListener]] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.cfg.host}:{self.ws_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.cfg.host}:{self.rest_port}"

    @property
    def markets(self) -> list[str]:
        return list(self.engines)

    def ws_url_for(self, market: str) -> str:
        """The WebSocket base of ``market``: the bare URL for the first market, else
        ``<ws_url>/<market>``. A source appends its route (``/market`` on USD-M)."""
        if market not in self.engines:
            raise KeyError(f"this simulator serves {self.markets}, not {market!r}")
        return self.ws_url if market == self.cfg.market else f"{self.ws_url}/{market}"

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
            for engine in self.engines.values():
                await nursery.start(engine.run)
            await nursery.start(self.gateway.serve, ws)
            front = RestFront(self._routes())
            http = HttpServer(self.engine, front, front.used)
            await nursery.start(http.serve, rest)
            task_status.started()

    def _routes(self) -> list[Routes]:
        """One Routes per market; markets of one weight pool share its limiter (the
        first config of the pool sets the budget)."""
        self.limiters = {}
        out = []
        for engine in self.engines.values():
            pool = engine.rules.pool
            if pool not in self.limiters:
                self.limiters[pool] = WeightLimiter(engine.cfg)
            out.append(Routes(engine, self.limiters[pool]))
        return out

    # -- control -------------------------------------------------------------------------
    def _engine(self, market: str | None) -> Engine:
        return self.engine if market is None else self.engines[market]

    def set_status(self, symbol: str, status: str, market: str | None = None) -> None:
        """E.g. ``"BREAK"``: the symbol stops trading (and emitting) at once."""
        self._engine(market).set_status(symbol, status)

    def list_symbol(self, spec: SymbolSpec, market: str | None = None) -> None:
        """A new listing: appears in exchangeInfo and starts trading now."""
        self._engine(market).list_symbol(spec)

    def stop_trading(self) -> None:
        """Freeze generation on every market (connections stay open) for final
        comparisons."""
        for engine in self.engines.values():
            engine.frozen = True

    def abort_connections(self) -> int:
        """Abruptly reset every open WebSocket connection (TCP RST); returns how many."""
        clients = list(self.gateway.clients)
        for client in clients:
            client.abort()
        return len(clients)

    # -- truth ---------------------------------------------------------------------------
    def truth_by_symbol(self, market: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every trade generated so far on ``market`` (default: the first), per symbol,
        in id order (dropped ones included)."""
        return {
            sym: [book.truth_row(i) for i in range(len(book))]
            for sym, book in self._engine(market).books.items()
        }

    def truth(self, market: str | None = None) -> list[dict[str, Any]]:
        return [row for rows in self.truth_by_symbol(market).values() for row in rows]

    def write_truth(self, path: str | Path) -> int:
        """Write the truth as JSONL; returns the number of lines. A simulator of several
        markets starts each line with ``"market"``."""
        n = 0
        several = len(self.engines) > 1
        with open(path, "wb") as fh:
            for market, engine in self.engines.items():
                for book in engine.books.values():
                    for i in range(len(book)):
                        row = book.truth_row(i)
                        if several:
                            row = {"market": market, **row}
                        fh.write(orjson.dumps(row) + b"\n")
                        n += 1
        return n
