"""Shared setup for the ``orders verify`` tests: a frozen simulator (REST truth) and a
private redis-server filled through the real writer (Processor)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio

from orders_cli.clock import now_ms
from orders_cli.messages import Backfilled
from orders_cli.models import Trade
from orders_cli.ops.verify import Verifier, VerifyOptions
from orders_cli.ops.verify_report import VerifyReport
from orders_cli.rest.client import RestClient
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sim.config import Faults, SymbolSpec
from orders_cli.sources.registry import get_source
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor

KS = Keyspace()
SPOT = get_source("spot")
SYM = "AAAUSDT"
OTHER = "BBBUSDT"


def sim_config(holes: tuple[tuple[str, int, int], ...] = (), history_s: float = 120.0) -> SimConfig:
    return SimConfig(
        seed=3,
        symbols=(
            SymbolSpec(SYM, rate=4.0, first_id=1000, price="10.00000000"),
            SymbolSpec(OTHER, rate=2.0, first_id=0, price="2.00000000", tick_size="0.00010000"),
        ),
        history_s=history_s,
        faults=Faults(holes=holes),
    )


def truth_trades(sim: Simulator, symbol: str) -> list[Trade]:
    return [
        Trade(row["s"], row["a"], row["p"], row["q"], row["f"], row["l"], row["T"], row["m"],
              row["T"])
        for row in sim.truth_by_symbol()[symbol]
    ]  # fmt: skip


def store(r: Any, trades: Iterable[Trade]) -> None:
    """Write trades through the real writer core, as a REST backfill would."""
    by_symbol: dict[str, list[Trade]] = {}
    for t in trades:
        by_symbol.setdefault(t.symbol, []).append(t)
    proc = Processor(r, KS, PlanConfig(cold_start=False))
    proc.process([Backfilled(s, tuple(ts)) for s, ts in by_symbol.items()], flush=True)


def delete_trade(r: Any, symbol: str, agg_id: int) -> None:
    """Remove one trade from the ZSET and the stream (bars and state untouched)."""
    for m in r.zrange(KS.trades_latest(symbol), 0, -1):
        if orjson.loads(m)["agg_trade_id"] == str(agg_id):
            assert r.zrem(KS.trades_latest(symbol), m) == 1
    ids = [i for i, f in r.xrange(KS.trades_stream(symbol)) if int(f[b"a"]) == agg_id]
    assert ids, f"{agg_id} not in the stream"
    r.xdel(KS.trades_stream(symbol), *ids)


@asynccontextmanager
async def running_sim(cfg: SimConfig, frozen: bool = True) -> AsyncIterator[Simulator]:
    sim = Simulator(cfg)
    if frozen:
        sim.stop_trading()  # the history is the whole truth: nothing new arrives
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            await nursery.start(sim.serve)
        yield sim
        nursery.cancel_scope.cancel()


async def verify(
    r: Any, sim: Simulator, *symbols: str, clock_ms: Callable[[], int] = now_ms, **opts: Any
) -> VerifyReport:
    """``Verifier.run`` against the simulator's REST; ``clock_ms`` is "now" (the window
    and the in-flight grace are measured from it)."""
    with trio.fail_after(30):
        async with RestClient(sim.rest_url, minute_offset=0.0) as rest:
            verifier = Verifier(r, KS, SPOT, rest, VerifyOptions(**opts), clock_ms=clock_ms)
            return await verifier.run(symbols)


async def cli(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``orders verify ARGS`` in a subprocess: (exit code, JSON lines, stderr)."""
    with trio.fail_after(60):
        proc = await trio.run_process(
            [sys.executable, "-m", "orders_cli", "verify", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    rows = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, rows, proc.stderr.decode()
