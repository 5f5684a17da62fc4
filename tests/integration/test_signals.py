"""`orders run` as a real process under the signals an operator sends: SIGHUP (the ssh
session dropped) stops it like SIGTERM, flushed and with its health key gone; Ctrl-C with
a hung Redis exits within the grace the run printed."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from typing import Any

import pytest
import trio

from orders_cli.sim import SimConfig, Simulator
from tests.integration.cliproc import (
    ROOT,
    cli_env,
    collect,
    orders_argv,
    stop_summary,
    stored_count,
)
from tests.integration.replay_server import wait_for
from tests.integration.test_ctrl_c import HUMAN_END
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

HEALTH_PATTERN = "orders:health:*"
EXIT_MARGIN_S = 1.5  # interpreter teardown after the run's own deadline


def _run_argv(redis_url: str, sim: Simulator) -> list[str]:
    return orders_argv(
        "run",
        "--redis-url", redis_url,
        "--ws-url", sim.ws_url,
        "--rest-url", sim.rest_url,
        "--no-panel",
    )  # fmt: skip


def _health_keys(r: Any) -> list[bytes]:
    return list(r.scan_iter(match=HEALTH_PATTERN))


async def _signal_run(
    redis_server: RedisServer,
    sig: signal.Signals,
    *,
    before: Any = None,
    timeout_s: float = 40.0,
) -> tuple[int, float, str, Simulator]:
    """Start `orders run`, wait until it is live, writing and reporting health, call
    ``before()``, send ``sig``; (exit code, seconds from the signal to the exit, stderr)."""
    sim = Simulator(SimConfig.from_fixture(n_symbols=40, seed=7, total_rate=2000.0))
    r = redis_server.client()
    err = bytearray()
    eof = trio.Event()
    with trio.fail_after(timeout_s + 30):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            symbols = list(sim.truth_by_symbol())
            proc = await trio.lowlevel.open_process(
                _run_argv(redis_server.url, sim),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=cli_env(),
            )
            n.start_soon(collect, proc.stderr, err, eof)
            try:
                with trio.fail_after(20):
                    await wait_for(
                        lambda: stored_count(r, symbols) > 1000 and bool(_health_keys(r)),
                        interval=0.1,
                    )
                if before is not None:
                    await before()
                proc.send_signal(sig)
                sent = trio.current_time()
                with trio.fail_after(timeout_s):
                    rc = await proc.wait()
                elapsed = trio.current_time() - sent
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                redis_server.resume()
            with trio.fail_after(5):
                await eof.wait()
            sim.stop_trading()
            n.cancel_scope.cancel()
    return rc, elapsed, err.decode(), sim


async def test_sighup_stops_the_run_like_sigterm_flushed_and_without_a_health_key(
    redis_server: RedisServer,
) -> None:
    rc, _elapsed, stderr, sim = await _signal_run(redis_server, signal.SIGHUP)
    assert rc == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    r = redis_server.client()
    assert _health_keys(r) == []
    fields = stop_summary(stderr)
    assert int(fields["stored"]) == stored_count(r, list(sim.truth_by_symbol())) > 1000


async def _drain(stream: trio.lowlevel.FdStream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        while await stream.receive_some(65536):
            pass


async def test_sighup_with_the_terminal_gone_still_flushes_and_clears_health(
    redis_server: RedisServer,
) -> None:
    """The live panel on a pseudo-terminal; the terminal hangs up (its master closes:
    every later write fails with EIO) and SIGHUP arrives, as when ssh drops."""
    sim = Simulator(SimConfig.from_fixture(n_symbols=40, seed=9, total_rate=2000.0))
    r = redis_server.client()
    master, slave = os.openpty()
    with trio.fail_after(60):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            symbols = list(sim.truth_by_symbol())
            env = cli_env()
            env["TERM"] = "xterm"
            argv = [a for a in _run_argv(redis_server.url, sim) if a != "--no-panel"]
            proc = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT, env=env
            )
            os.close(slave)
            terminal = trio.lowlevel.FdStream(master)
            n.start_soon(_drain, terminal)
            try:
                with trio.fail_after(20):
                    await wait_for(
                        lambda: stored_count(r, symbols) > 1000 and bool(_health_keys(r)),
                        interval=0.1,
                    )
                await terminal.aclose()  # the terminal is gone
                proc.send_signal(signal.SIGHUP)
                with trio.fail_after(15):
                    rc = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            sim.stop_trading()
            n.cancel_scope.cancel()
    assert rc == 0
    assert _health_keys(r) == []


async def test_ctrl_c_with_a_hung_redis_exits_within_the_printed_grace(
    redis_server: RedisServer,
) -> None:
    async def hang_redis() -> None:
        redis_server.pause()  # SIGSTOP: connections stay open, nothing answers
        await trio.sleep(0.5)  # the writer is now blocked inside a Redis call

    rc, elapsed, stderr, _sim = await _signal_run(
        redis_server, signal.SIGINT, before=hang_redis, timeout_s=40.0
    )
    printed = re.search(r"at most (\d+(?:\.\d+)?) ?s\b", stderr)
    assert printed, stderr[-3000:]
    grace = float(printed.group(1))
    assert elapsed <= grace + EXIT_MARGIN_S, (
        f"exited {elapsed:.1f}s after Ctrl-C, printed grace {grace}s"
    )
    assert "Traceback" not in stderr, stderr[-3000:]
    assert rc == 0, stderr[-3000:]
    assert "writes still pending" in stderr, stderr[-3000:]  # says what it could not do


async def test_ctrl_c_through_a_pipe_ends_with_one_logfmt_line(redis_server: RedisServer) -> None:
    rc, _elapsed, stderr, sim = await _signal_run(redis_server, signal.SIGINT)
    assert rc == 0, stderr[-3000:]
    assert "Ctrl-C again stops at once" in stderr
    assert not HUMAN_END.search(stderr)
    fields = stop_summary(stderr)
    r = redis_server.client()
    assert int(fields["stored"]) == stored_count(r, list(sim.truth_by_symbol())) > 1000
    assert float(fields["after_s"]) > 0 and int(fields["backfill_resumes"]) >= 0
