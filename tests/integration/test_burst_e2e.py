"""Equal-T bursts delivered out of id order are put back in order by the writer's reorder
window: no gap is declared, no REST aggTrades call is made, Redis equals the truth."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester
from orders_cli.redis_conn import connect
from orders_cli.sim import Faults, FaultSpec, SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.telemetry import Telemetry
from tests.integration.harness import KS, Diff, compare, open_gaps
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration

AGG = "rest:/api/v3/aggTrades"


@attrs.define
class BurstRun:
    sim_stats: Counter[str]
    telemetry: Telemetry
    head_checks: int
    trades: int
    diff: Diff


async def _run_bursts(redis_url: str, *, resume: bool) -> BurstRun:
    """Bursts on (every equal-T burst shuffled), backfill 0, no sweep. ``resume``: each
    symbol already has a stored watermark just below its first id (as after a restart),
    so the first frames seen are not a symbol's first sight."""
    base = SimConfig.from_fixture(n_symbols=25, seed=17, total_rate=400.0)
    cfg = attrs.evolve(
        base,
        symbols=tuple(attrs.evolve(s, burst_p=0.4) for s in base.symbols),
        faults=Faults(reorder_burst=FaultSpec(rate=1.0)),
    )
    sim = Simulator(cfg)
    # Start frozen: the start-up head checks (one aggTrades?limit=1 per symbol when the
    # connection goes live) then see empty books and are over before the first trade, so
    # any aggTrades call counted after that would be a gap backfill.
    sim.stop_trading()
    client: Any = connect(redis_url)
    if resume:
        for spec in cfg.symbols:
            client.hset(KS.state(spec.symbol), "watermark", spec.first_id - 1)
    telemetry = Telemetry()
    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            run_cfg = RunConfig(
                redis_url=redis_url,
                ws_url=sim.ws_url,
                rest_url=sim.rest_url,
                backfill_s=0,
                sweep=False,
                listing_poll_s=0,
                prune_every_s=0,
            )
            ing = Ingester(run_cfg, get_source("spot"), client, telemetry)
            done = trio.Event()

            async def ingest(*, task_status: trio.TaskStatus[None]) -> None:
                await ing.run(task_status=task_status)
                done.set()

            await n.start(ingest)
            live = len(ing.subscribed)
            assert live > 20
            await wait_for(
                lambda: (
                    sim.stats[AGG] >= live
                    and ing.backfill is not None
                    and ing.backfill.pending() + ing.backfill.in_flight == 0
                )
            )
            head_checks = sim.stats[AGG]
            # trading starts now (Simulator has stop_trading() but no public resume)
            sim.engine.frozen = False
            await trio.sleep(5.0)  # trades flow (the run length, not a wait for luck)
            sim.stop_trading()

            def settled() -> bool:
                truth = sim.truth_by_symbol()
                return compare(client, truth, False).clean and not open_gaps(client, list(truth))

            with trio.move_on_after(5):
                await wait_for(settled, interval=0.2)
            ing.stop()
            await done.wait()
            n.cancel_scope.cancel()
    truth = sim.truth_by_symbol()
    return BurstRun(
        sim_stats=Counter(sim.stats),
        telemetry=telemetry,
        head_checks=head_checks,
        trades=sum(len(rows) for rows in truth.values()),
        diff=compare(client, truth),
    )


def _check(run: BurstRun) -> None:
    stats, c = run.sim_stats, run.telemetry.counters
    assert stats["reordered_bursts"] > 20, stats
    assert run.trades > 1000
    assert stats[AGG] == run.head_checks, (stats, c)
    assert c["gaps_opened"] == 0, c
    assert c["duplicates"] == 0, c
    assert run.diff.clean, run.diff.summary()


async def test_out_of_order_bursts_mid_stream_need_no_rest_and_open_no_gap(
    redis_server: Any,
) -> None:
    _check(await _run_bursts(redis_server.url, resume=True))


async def test_out_of_order_bursts_at_first_sight_need_no_rest_and_open_no_gap(
    redis_server: Any,
) -> None:
    _check(await _run_bursts(redis_server.url, resume=False))
