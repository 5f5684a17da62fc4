"""End to end: simulator -> the ingester -> a Redis that refuses every write (OOM:
``maxmemory`` with ``noeviction``) for 10 s mid-run. The ingester stays up, `orders
status` (the ops function behind it) reports the refusal and would exit non-zero while it
lasts, and once memory is back Redis equals the simulator's ground truth exactly."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio

from orders_cli.ops.status import StatusLimits, Verdict, check_status
from orders_cli.sim import SimConfig
from orders_cli.store.keys import Keyspace
from tests.integration.harness import Run, run_until_complete
from tests.redis_server import RedisServer
from tests.store.redis_faults import out_of_memory

pytestmark = pytest.mark.integration

OOM_S = 10.0


async def test_ten_seconds_of_oom_mid_run_lose_nothing_and_status_reports_it(
    redis_server: RedisServer,
) -> None:
    admin = redis_server.client()
    verdicts: list[Verdict] = []

    def status_now() -> Verdict:
        now = int(time.time() * 1000)
        return check_status(admin, Keyspace(), StatusLimits(), now)[2]

    async def oom(run: Run) -> None:
        await trio.sleep(3.0)
        with out_of_memory(admin):
            end = trio.current_time() + OOM_S
            while trio.current_time() < end:
                await trio.sleep(1.0)
                verdicts.append(await trio.to_thread.run_sync(status_now))
            refused_at_end = run.telemetry.redis_refusal
        assert refused_at_end == "OOM"

    run, diff = await run_until_complete(
        SimConfig.from_fixture(n_symbols=20, seed=29, total_rate=200.0),
        redis_server.url,
        live_s=OOM_S + 6.0,
        settle_timeout=40.0,
        during=oom,
        regap_s=2.0,
    )
    ingester = run.ingester.cfg.ingester_id
    assert len(verdicts) >= OOM_S - 1
    for v in verdicts:
        assert not v.healthy  # `orders status` exits 1
        assert any(
            f"ingester {ingester} alive, Redis refusing writes (OOM)" in p for p in v.problems
        ), v.problems
    t = run.telemetry
    assert t.counters["redis_refusals"] > 0, t.counters
    assert t.redis_state == "ok"
    assert diff.clean, diff.summary()
    stored: Any = t.counters["trades_stored"]
    assert stored > 0
