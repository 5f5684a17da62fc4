"""Redis goes back in time under a running ingester: a restart that lost the last
acknowledged writes (``appendfsync everysec``), or a restore of an older snapshot. The
writer reloads and re-gaps (never stalls, never doubles a trade): Redis ends equal to the
simulator's ground truth."""

from __future__ import annotations

import pytest
import trio

from orders_cli.sim import SimConfig
from tests.integration.harness import Run, run_until_complete
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration


async def test_redis_restored_from_an_older_snapshot_is_reloaded_and_regapped(
    redis_server: RedisServer,
) -> None:
    dump = redis_server.dir / "dump.rdb"
    restored: list[int] = []

    async def restore_older(run: Run) -> None:
        await trio.sleep(2.0)
        r = redis_server.client()
        r.save()  # the older state the restore brings back
        older = dump.read_bytes()
        await trio.sleep(2.0)  # acknowledged writes that the restore loses
        run.sim.stop_trading()  # no later trade of a symbol reveals what it lost
        redis_server.kill()
        dump.write_bytes(older)
        redis_server.restart()
        restored.append(1)

    cfg = SimConfig.from_fixture(n_symbols=30, seed=11, total_rate=300.0)
    run, diff = await run_until_complete(
        cfg,
        redis_server.url,
        live_s=6.0,
        settle_timeout=20.0,
        during=restore_older,
        sweep=False,  # the periodic sweep would find the lost tails minutes later
    )
    assert restored, "the restore happened"
    assert diff.clean, (diff.summary(), dict(run.telemetry.counters))
    assert run.telemetry.counters["state_rollbacks"] > 0
