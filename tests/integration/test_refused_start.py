"""A run refused at start (exit 2) refuses before it advertises anything (simulator URLs,
the verify hint, the panel) and leaves no health key behind: `orders status` does not
call it healthy, and the next `run --simulate` is not blocked as "in use"."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any

import pytest
import trio

from orders_cli.sim import SimConfig, Simulator
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import EXCHANGE, claim, simulator
from tests.integration.cliproc import ROOT, cli_env, orders_argv
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration
KS = Keyspace()


def _fill(r: Any) -> None:
    r.sadd(KS.symbols(), "BTCUSDT")
    r.hset(KS.state("BTCUSDT"), "watermark", 5)


def _against(sim: Simulator, redis_url: str) -> list[str]:
    """`orders run` against ``sim`` as an outside exchange (no --simulate)."""
    return ["run", "--redis-url", redis_url, "--no-panel", "--ws-url", sim.ws_url,
            "--rest-url", sim.rest_url]  # fmt: skip


async def _orders(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await trio.run_process(
            orders_argv(*args),
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=ROOT,
            env=cli_env(),
        )


async def test_a_demo_refused_by_exchange_data_advertises_nothing_and_leaves_no_health(
    redis_server: Any,
) -> None:
    r = redis_server.client()
    claim(r, KS, EXCHANGE)
    _fill(r)
    out = await _orders("run", "--simulate", "--redis-url", redis_server.url, "--no-panel")
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert "already holds exchange data" in err
    assert "simulator:" not in err and "verify" not in err, err
    assert not r.keys("*orders:health:*")
    assert r.scard(KS.symbols()) == 1


async def test_a_run_against_a_new_simulator_keeps_the_demo_data_without_consent(
    redis_server: Any,
) -> None:
    """The issue's poisoning, end to end: `orders run` against `orders sim` on a store
    holding an earlier simulation's data refuses off a terminal (exit 2, nothing
    deleted, nothing marked, no health key)."""
    r = redis_server.client()
    claim(r, KS, simulator("earlier"))
    _fill(r)
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, total_rate=20.0))
    async with trio.open_nursery() as n:
        await n.start(sim.serve)
        out = await _orders(*_against(sim, redis_server.url))
        err = out.stderr.decode()
        assert out.returncode == 2, err
        assert "--replace-store" in err and "nothing deleted" in err
        assert r.get(KS.origin()) == simulator("earlier").encode()
        assert r.hget(KS.state("BTCUSDT"), "watermark") == b"5"
        assert not r.keys("*orders:health:*")
        n.cancel_scope.cancel()


async def test_a_run_that_fails_after_start_deletes_its_health_record(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only a clean stop: a run ended by an error removes its health key too."""
    from orders_cli.cli.run_loop import Display, run_ingest
    from orders_cli.config import RunConfig
    from orders_cli.errors import ExchangeUnavailable
    from orders_cli.ingest.ingester import Ingester, StoreClaim
    from orders_cli.sources.registry import get_source

    r = redis_server.client()

    async def fail_once_healthy(self: Ingester, *_args: Any) -> None:
        await wait_for(lambda: bool(r.keys("*orders:health:*")), interval=0.01)
        raise ExchangeUnavailable("the exchange went away")

    monkeypatch.setattr(Ingester, "_run_producers", fail_once_healthy)
    sim_cfg = SimConfig.from_fixture(n_symbols=3, total_rate=20.0)
    cfg = RunConfig(redis_url=redis_server.url)
    with trio.fail_after(20), pytest.raises(BaseException) as raised:
        await run_ingest(
            cfg, get_source("spot"), r, Display(tty=False), sim_cfg=sim_cfg, claim=StoreClaim()
        )
    assert "the exchange went away" in repr(raised.value)
    assert not r.keys("*orders:health:*")


async def _read(terminal: trio.lowlevel.FdStream) -> bytes:
    """What the terminal shows next; b"" once the process is gone (EIO on Linux)."""
    try:
        return await terminal.receive_some(65536)
    except trio.BrokenResourceError:
        return b""


async def _run_on_a_terminal(argv: list[str], answer: bytes) -> tuple[int, str]:
    """``orders`` with stdin and stderr on a pseudo-terminal: answers the prompt, then
    (if the run starts) stops it with Ctrl-C once it is live. (exit code, what it wrote)"""
    master, slave = os.openpty()
    env = cli_env()
    env["TERM"] = "xterm"
    proc = await trio.lowlevel.open_process(
        orders_argv(*argv), stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env
    )
    os.close(slave)
    terminal = trio.lowlevel.FdStream(master)
    seen = bytearray()
    try:
        with trio.fail_after(30):
            while b"[y/N]" not in seen:
                seen += await _read(terminal)
            await terminal.send_all(answer)
            while proc.poll() is None and b"live:" not in seen:
                with trio.move_on_after(0.5):
                    seen += await _read(terminal)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            rc = await proc.wait()
            while more := await _read(terminal):  # the last lines, up to the hang-up
                seen += more
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(OSError):
            await terminal.aclose()
    return rc, seen.decode(errors="replace")


@pytest.mark.parametrize(("answer", "rc"), [(b"n\r", 2), (b"y\r", 0)])
async def test_on_a_terminal_a_run_asks_before_deleting_demo_data(
    redis_server: Any, answer: bytes, rc: int
) -> None:
    r = redis_server.client()
    claim(r, KS, simulator("earlier"))
    _fill(r)
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, total_rate=20.0))
    async with trio.open_nursery() as n:
        await n.start(sim.serve)
        got, text = await _run_on_a_terminal(_against(sim, redis_server.url), answer)
        n.cancel_scope.cancel()
    assert got == rc, text
    assert "another simulation's data" in text and "delete its" in text, text
    if rc:
        assert "nothing deleted" in text
        assert r.hget(KS.state("BTCUSDT"), "watermark") == b"5"
    else:
        assert r.get(KS.origin()) == simulator(sim.instance).encode()
        assert r.hget(KS.state("BTCUSDT"), "watermark") != b"5"  # this simulation's now
    assert not r.keys("*orders:health:*")
