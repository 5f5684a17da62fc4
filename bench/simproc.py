"""The simulator in its own process, driven over stdin/stdout by the bench scripts.

Run: ``.venv/bin/python bench/simproc.py --symbols 1000 --rate 20000 [--history 86400]
[--market spot,usdm]``. Several markets share ``--rate`` evenly (the same total rate as
one market) and list ``--symbols`` each; their symbols are named with the market's key
prefix (``usdm:BTCUSDT``; spot's bare), as benchlib.split_name reads them. It prints one
JSON line ``{"ws_url", "ws_urls", "rest_url", "markets", "symbols", "trading"}`` when
serving (``ws_urls``: each market's, for ``orders run --ws-url MARKET=URL,...``), then
answers one JSON line per command read from stdin:

- ``symbols`` -> ``{"symbols": [...]}`` in config (= rate) order
- ``stats``  -> ``{"stats": sim.stats, "weight": {...}}``
- ``truth``  -> like ``freeze`` without freezing
- ``truth_since MS`` -> the same for trades with ``T >= MS`` only
- ``freeze`` -> stop generating; ``{"truth": {symbol: [count, first_id, last_id]}}``
- ``quit``   -> exit 0 (EOF on stdin too)

``weight`` is measured at the first market's limiter (the figure it would send as
``X-MBX-USED-WEIGHT-1M``): ``used`` in the current fixed window, ``peak`` the highest
end-of-window figure seen so far, ``windows`` every closed window's figure.
"""

from __future__ import annotations

import argparse
import bisect
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import trio

from orders_cli.sim import SimConfig, Simulator
from orders_cli.sim.book import Book
from orders_cli.sim.restserver import WeightLimiter
from orders_cli.sources.registry import get_source

LOOPBACK = "127.0.0.1"


class WeightWatch:
    """Samples the limiter's per-window weight every 0.25 s; keeps each window's last value."""

    def __init__(self, limiter: WeightLimiter) -> None:
        self.limiter = limiter
        self.windows: list[int] = []
        self.used = 0
        self.window = 0

    async def run(self) -> None:
        while True:
            st = self.limiter.ips.get(LOOPBACK)
            if st is not None:
                if st.window != self.window and self.window >= 0:
                    self.windows.append(self.used)
                    self.window = st.window
                self.used = st.used
            await trio.sleep(0.25)

    def report(self) -> dict[str, Any]:
        closed = self.windows
        return {
            "used": self.used,
            "peak": max([*closed, self.used], default=0),
            "windows": closed,
            "budget": self.limiter.cfg.weight_budget,
        }


async def serve(
    sim: Simulator, *, task_status: trio.TaskStatus[WeightWatch] = trio.TASK_STATUS_IGNORED
) -> None:
    """``Simulator.serve`` with a watch on its weight limiter (measured, not guessed)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        watch = WeightWatch(sim.limiters[sim.engine.rules.pool])
        nursery.start_soon(watch.run)
        task_status.started(watch)


def books(sim: Simulator) -> Iterator[tuple[str, Book]]:
    """Every market's books, by bench name (the market's key prefix + the symbol)."""
    for market, engine in sim.engines.items():
        prefix = get_source(market).key_prefix
        for sym, book in engine.books.items():
            yield prefix + sym, book


def truth_summary(sim: Simulator) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for sym, book in books(sim):
        n = len(book)
        out[sym] = [n, book.first_id, book.last_id] if n else [0, -1, -1]
    return out


def truth_since(sim: Simulator, since_ms: int) -> dict[str, list[int]]:
    """Per symbol: [count, first id, last id] of the trades with ``T >= since_ms``."""
    out: dict[str, list[int]] = {}
    for sym, book in books(sim):
        i = bisect.bisect_left(book.t, since_ms)
        n = len(book) - i
        out[sym] = [n, book.first_id + i, book.last_id] if n > 0 else [0, -1, -1]
    return out


def reply(obj: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.buffer.flush()


async def main(args: argparse.Namespace) -> None:
    markets = args.market.split(",")
    cfgs = [
        SimConfig.from_fixture(
            n_symbols=args.symbols,
            seed=args.seed,
            total_rate=args.rate / len(markets),
            history_s=args.history,
            market=market,
        )
        for market in markets
    ]
    sim = Simulator(*cfgs)
    names = [name for name, _book in books(sim)]
    specs = [s for cfg in cfgs for s in cfg.symbols]
    rates = [r for cfg in cfgs for r in cfg.rates()]
    async with trio.open_nursery() as nursery:
        watch: WeightWatch = await nursery.start(serve, sim)
        reply(
            {
                "ws_url": sim.ws_url,
                "ws_urls": {m: sim.ws_url_for(m) for m in markets},
                "rest_url": sim.rest_url,
                "markets": markets,
                "symbols": len(specs),
                "trading": sum(1 for s in specs if s.status == "TRADING"),
                "active": sum(1 for r in rates if r > 0),
                "min_rate": min(r for r in rates if r > 0),
            }
        )
        while True:
            line = await trio.to_thread.run_sync(sys.stdin.readline)
            cmd = line.strip()
            if cmd in ("", "quit"):
                break
            if cmd == "stats":
                reply({"stats": dict(sim.stats), "weight": watch.report()})
            elif cmd == "symbols":
                reply({"symbols": names})
            elif cmd.startswith("truth_since "):
                since = int(cmd.split()[1])
                reply({"truth": truth_since(sim, since), "weight": watch.report()})
            elif cmd == "truth":
                reply({"truth": truth_summary(sim), "weight": watch.report()})
            elif cmd == "freeze":
                sim.stop_trading()
                reply({"truth": truth_summary(sim), "weight": watch.report()})
            else:
                reply({"error": f"unknown command {cmd!r}"})
        nursery.cancel_scope.cancel()


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20000.0)
    p.add_argument("--history", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--market", default="spot", help="spot, usdm, coinm or several, comma-separated")
    trio.run(main, p.parse_args())


if __name__ == "__main__":
    cli()
