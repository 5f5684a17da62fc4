"""simulator with 2 minutes of history → orders run (in process) → a real redis-server: the
cold-start backfill ends with ONE log line ("N symbols live, history complete in ..."),
and at that moment no symbol has a gap left in Redis."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

from orders_cli.sim import SimConfig
from tests.integration.harness import Run, open_gaps, run_until_complete
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration

READY = "history complete in"


async def test_the_ready_line_appears_once_when_the_cold_backfill_ends(
    redis_server: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="orders.run")
    monkeypatch.setenv("ORDERS_LAUNCHER", "./scripts/run")  # as scripts/run sets it
    at_ready: dict[str, Any] = {}

    async def until_ready(run: Run) -> None:
        t = run.telemetry
        with trio.fail_after(60):
            await wait_for(lambda: t.history.complete, interval=0.05)
        symbols = list(run.sim.truth_by_symbol())
        at_ready["gaps"] = await trio.to_thread.run_sync(open_gaps, run.redis, symbols)
        at_ready["pages"] = t.counters["backfill_cold_pages"]

    cfg = SimConfig.from_fixture(n_symbols=20, seed=3, total_rate=200.0, history_s=120)
    run, diff = await run_until_complete(cfg, redis_server.url, live_s=8.0, during=until_ready)
    assert diff.clean, diff.summary()
    ready = [r.getMessage() for r in caplog.records if READY in r.getMessage()]
    assert len(ready) == 1, ready  # and not again in the seconds of live trading after it
    history = run.telemetry.history
    assert ready[0].startswith(f"{history.symbols_total} symbols live, history complete in ")
    assert "`./scripts/run verify`" in ready[0]  # a hint that works when pasted
    assert history.symbols_total == run.telemetry.symbols_subscribed >= 20
    assert history.symbols_done == history.symbols_total
    assert at_ready["pages"] >= 20  # 2 minutes of history of 20+ symbols: a page each at least
    assert at_ready["gaps"] == {}
