"""The shipped ``chaos`` scenario does what its docs promise: `orders run --simulate
--sim-scenario chaos` sees its connections reset (reconnects), gaps opened and trades
backfilled into them."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest

from orders_cli.ops.status import read_health
from tests.integration.cliproc import ROOT, cli_env, orders_argv
from tests.integration.harness import KS

pytestmark = pytest.mark.integration


def _figures(r: Any) -> tuple[int, int, int]:
    """(reconnects, gaps opened, late trades: those a backfill filled) the running
    ingester reports."""
    docs = [h.doc for h in read_health(r, KS)]
    reconnects = sum(c["reconnects"] for d in docs for c in d["connections"])
    return (
        reconnects,
        sum(d["gaps"]["opened"] for d in docs),
        sum(d["late_trades"] for d in docs),
    )


def test_run_simulate_with_the_chaos_scenario_reconnects_and_fills_gaps(
    redis_server: Any,
) -> None:
    r = redis_server.client()
    proc = subprocess.Popen(
        orders_argv("run", "--simulate", "--sim-scenario", "chaos", "--no-panel", "-q",
                    "--redis-url", redis_server.url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=cli_env(),
    )  # fmt: skip
    seen = (0, 0, 0)
    deadline = time.monotonic() + 90  # the scenario resets connections at 15 s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _figures(r)
            if seen[0] >= 1 and seen[1] >= 1 and seen[2] >= 1:
                break
            time.sleep(0.5)  # polling the health record with a deadline, not a wait for luck
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen[0] >= 1, (seen, err.decode()[-2000:])  # a reconnect
    assert seen[1] >= 1 and seen[2] >= 1, seen  # gaps opened and trades backfilled
    assert proc.returncode == 0, err.decode()[-2000:]
