"""simulator with 2 minutes of history → orders run (in process) → a real redis-server: the
cold-start backfill ends with ONE log line ("N symbols live, history complete in ..."),
and at that moment no symbol has a gap left in Redis."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester
from orders_cli.redis_conn import connect
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.telemetry import Telemetry
from tests.integration.harness import open_gaps
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration

READY = "history complete in"


async def test_the_ready_line_appears_once_when_the_cold_backfill_ends(
    redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orders.run")
    sim = Simulator(SimConfig.from_fixture(n_symbols=20, seed=3, total_rate=200.0, history_s=120))
    client = connect(redis_server.url)
    telemetry = Telemetry()
    with trio.fail_after(120):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            cfg = RunConfig(
                redis_url=redis_server.url,
                ws_url=sim.ws_url,
                rest_url=sim.rest_url,
                listing_poll_s=0,
                prune_every_s=0,
                health_interval_s=1,
            )
            ing = Ingester(cfg, get_source("spot"), client, telemetry)
            done = trio.Event()

            async def ingest() -> None:
                await ing.run()
                done.set()

            n.start_soon(ingest)
            with trio.fail_after(60):
                await wait_for(lambda: telemetry.history.complete, interval=0.05)
            gaps_at_ready = await trio.to_thread.run_sync(
                open_gaps, client, list(sim.truth_by_symbol())
            )
            pages = telemetry.counters["backfill_cold_pages"]
            stored = telemetry.counters["trades_stored"]
            with trio.fail_after(30):  # several more rounds of the watch: no second line
                await wait_for(lambda: telemetry.counters["trades_stored"] > stored + 400)
            ing.stop()
            await done.wait()
            n.cancel_scope.cancel()
    ready = [r.getMessage() for r in caplog.records if READY in r.getMessage()]
    assert len(ready) == 1, ready
    n_symbols = telemetry.history.symbols_total
    assert ready[0].startswith(f"{n_symbols} symbols live, history complete in ")
    assert n_symbols == telemetry.symbols_subscribed >= 20
    assert telemetry.history.symbols_done == n_symbols
    assert pages >= 20  # 2 minutes of history of 20+ symbols: a cold page each at least
    assert gaps_at_ready == {}
