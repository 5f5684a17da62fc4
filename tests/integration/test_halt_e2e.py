"""A symbol that leaves TRADING while the ingester is down: the next run closes it out
(every trade up to the halt stored, from its watermark to its REST head) and its info
hash says the new status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester
from orders_cli.redis_conn import connect
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from tests.integration.harness import KS, compare, open_gaps
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _ingesting(sim: Simulator, redis_url: str) -> AsyncIterator[Ingester]:
    """One `orders run` (in process) against ``sim``; stopped (flushed) on exit."""
    cfg = RunConfig(
        redis_url=redis_url,
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        listing_poll_s=0,
        prune_every_s=0,
        sweep=False,  # only the start's own close-out may find the halted symbols' tails
    )
    ing = Ingester(cfg, get_source("spot"), connect(redis_url))
    async with trio.open_nursery() as n:
        await n.start(ing.run)
        yield ing
        ing.stop()


def _status(r: Any, symbol: str) -> str:
    raw = r.hget(KS.symbol_info(symbol), "status")
    return raw.decode() if raw else ""


async def test_a_symbol_halted_while_down_is_closed_out_on_the_next_start(
    redis_server: Any,
) -> None:
    sim = Simulator(SimConfig.from_fixture(n_symbols=12, seed=5, total_rate=300.0))
    r = redis_server.client()
    with trio.fail_after(90):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            async with _ingesting(sim, redis_server.url) as ing:
                trading = [s for s, i in ing.infos.items() if i.trading]
                with trio.fail_after(20):
                    await wait_for(
                        lambda: all(r.zcard(KS.trades_latest(s)) > 0 for s in trading[:3]),
                        interval=0.1,
                    )
            busiest = sorted(trading, key=lambda s: -len(sim.truth_by_symbol()[s]))[:2]
            halted = {busiest[0]: "BREAK", busiest[1]: "HALT"}
            before = {s: r.zcard(KS.trades_latest(s)) for s in halted}
            await trio.sleep(2.0)  # the ingester is down: these trades reach nobody
            for symbol, status in halted.items():
                sim.set_status(symbol, status)
            truth = {s: sim.truth_by_symbol()[s] for s in halted}
            assert all(len(truth[s]) > before[s] + 10 for s in halted), (before, truth)
            async with _ingesting(sim, redis_server.url):
                with trio.move_on_after(30):
                    await wait_for(
                        lambda: compare(r, truth, False).clean and not open_gaps(r, list(halted)),
                        interval=0.2,
                    )
            sim.stop_trading()
            n.cancel_scope.cancel()
    diff = compare(r, truth)
    assert diff.clean, diff.summary()
    assert {s: _status(r, s) for s in halted} == halted
