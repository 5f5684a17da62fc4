"""No trade missing, provably: with the simulator's faults on, Redis ends exactly equal to
the ground truth (missing 0, duplicates 0, extra 0)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio

from orders_cli.sim import Faults, FaultSpec, SimConfig, SymbolSpec
from tests.integration.harness import run_until_complete

pytestmark = pytest.mark.integration


async def test_every_fault_at_once_ends_exact(redis_server: Any) -> None:
    base = SimConfig.from_fixture(n_symbols=60, seed=11, total_rate=300.0)
    faults = Faults(
        drop=FaultSpec(rate=0.02),
        duplicate=FaultSpec(rate=0.02),
        malformed=FaultSpec(rate=0.01),
        reorder_burst=FaultSpec(rate=0.05),
        stall=FaultSpec(at=(3.0,)),
        stall_s=4.0,
        abort=FaultSpec(at=(5.0,)),
        rest_error=FaultSpec(rate=0.05),
        listings=((2.0, SymbolSpec("NEWCOINUSDT", rate=20.0, first_id=0)),),
        status_changes=((4.0, base.symbols[0].symbol, "BREAK"),),
    )
    cfg = attrs.evolve(base, faults=faults, lifetime_s=6.0, shutdown_lead_s=1.0)
    run, diff = await run_until_complete(
        cfg,
        redis_server.url,
        live_s=12.0,
        settle_timeout=60.0,
        listing_poll_s=1.0,
        stall_timeout_s=2.0,
        max_streams_per_connection=40,
    )
    assert diff.clean, diff.summary()
    c = run.telemetry.counters
    assert c["malformed"] > 0 and c["duplicates"] > 0 and c["gaps_opened"] > 0
    assert "NEWCOINUSDT" in run.sim.truth_by_symbol()


@pytest.mark.parametrize("status", [429, 418])
async def test_rest_429_and_418_are_honoured_and_nothing_is_lost(
    redis_server: Any, status: int
) -> None:
    """REST answers 429 / 418 (with Retry-After) to a share of the calls while trades are
    being dropped live: the backfill waits as told and still fills every gap."""
    base = SimConfig.from_fixture(n_symbols=40, seed=3, total_rate=200.0)
    cfg = attrs.evolve(
        base,
        faults=Faults(
            drop=FaultSpec(rate=0.05), rest_error=FaultSpec(rate=0.3), rest_error_status=status
        ),
    )
    run, diff = await run_until_complete(
        cfg, redis_server.url, live_s=5.0, settle_timeout=150.0, regap_s=5.0
    )
    assert diff.clean, (diff.summary(), run.telemetry.counters, run.sim.stats)
    assert run.sim.stats["rest_fault"] > 0
    assert run.telemetry.counters[f"rest_{status}"] > 0


async def test_kill_then_restart_leaves_no_hole(redis_server: Any) -> None:
    """A run that dies without flushing (cancelled like kill -9: no stop, no flush), then a
    second run on the same Redis: the downtime is backfilled, nothing doubled."""
    cfg = SimConfig.from_fixture(n_symbols=30, seed=5, total_rate=150.0)
    from orders_cli.config import RunConfig
    from orders_cli.ingest.ingester import Ingester
    from orders_cli.redis_conn import connect
    from orders_cli.sim import Simulator
    from orders_cli.sources.registry import get_source
    from tests.integration.harness import compare, open_gaps

    sim = Simulator(cfg)
    client = connect(redis_server.url)
    with trio.fail_after(120):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            rc = RunConfig(
                redis_url=redis_server.url,
                ws_url=sim.ws_url,
                rest_url=sim.rest_url,
                listing_poll_s=0,
                prune_every_s=0,
            )
            with trio.move_on_after(3.0):  # first run, then "kill -9": cancelled, no flush
                await Ingester(rc, get_source("spot"), client).run()
            await trio.sleep(3.0)  # downtime: trades keep coming
            second = Ingester(rc, get_source("spot"), client)

            async def run2() -> None:
                await second.run()

            n.start_soon(run2)
            await trio.sleep(3.0)
            sim.stop_trading()
            for _ in range(120):
                await trio.sleep(0.5)
                truth = sim.truth_by_symbol()
                if compare(client, truth, False).clean and not open_gaps(client, list(truth)):
                    break
            second.stop()
            await trio.sleep(1.0)
            n.cancel_scope.cancel()
    diff = compare(client, sim.truth_by_symbol())
    assert diff.clean, diff.summary()
