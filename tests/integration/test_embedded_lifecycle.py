"""The embedded Redis under a running `orders run` (real processes, a private data dir):
whichever command started it, no other command shuts it down while the run uses it,
and the run restarts it on the same dir when it dies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trio

from tests.integration.cliproc import ROOT, cli_env, collect, orders_argv
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def data_home(tmp_path: Path) -> Any:
    """XDG_DATA_HOME of the child processes: their embedded Redis lives under it."""
    home = tmp_path / "data"
    yield home
    pidfile = home / "orders" / "redis" / "redis.pid"
    with contextlib.suppress(OSError, ValueError):  # never leak a server
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


def _redis_dir(home: Path) -> Path:
    return home / "orders" / "redis"


def _client(home: Path) -> redis.Redis | None:
    try:
        url = (_redis_dir(home) / "redis.url").read_text().strip()
    except OSError:
        return None
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _pid(home: Path) -> int | None:
    try:
        return int((_redis_dir(home) / "redis.pid").read_text())
    except (OSError, ValueError):
        return None


def _answers(home: Path) -> bool:
    client = _client(home)
    if client is None:
        return False
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _stored(home: Path) -> int:
    client = _client(home)
    if client is None:
        return 0
    try:
        return sum(client.zcard(k) for k in client.scan_iter(match="trades:{*}:latest"))
    except redis.RedisError:
        return 0
    finally:
        client.close()


@contextlib.asynccontextmanager
async def _orders(home: Path, *args: str, log: bytearray) -> AsyncIterator[trio.Process]:
    env = cli_env()
    env["XDG_DATA_HOME"] = str(home)
    proc = await trio.lowlevel.open_process(
        orders_argv(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    eof = trio.Event()
    try:
        async with trio.open_nursery() as n:
            n.start_soon(collect, proc.stderr, log, eof)
            yield proc
            with trio.fail_after(15):
                await eof.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
        with trio.move_on_after(5):
            await proc.wait()


async def _stop(proc: trio.Process) -> int:
    proc.send_signal(signal.SIGINT)
    with trio.fail_after(15):
        return await proc.wait()


RUN = ("run", "--simulate", "--sim-symbols", "5", "--sim-rate", "200", "--no-panel")


async def test_a_command_that_started_it_does_not_shut_it_down_under_a_run(
    data_home: Path,
) -> None:
    tail_log, run_log = bytearray(), bytearray()
    with trio.fail_after(90):
        async with _orders(data_home, *RUN, log=run_log) as first:  # BTCUSDT gets stored
            await wait_for(lambda: _stored(data_home) > 100, interval=0.2)
            assert await _stop(first) == 0, run_log.decode()[-3000:]
        assert not _answers(data_home)  # it had started the server: stopped with it
        async with _orders(data_home, "tail", "BTCUSDT", log=tail_log) as tail:
            await wait_for(lambda: _answers(data_home), interval=0.1)  # tail started it
            async with _orders(data_home, *RUN, log=run_log) as run:
                await wait_for(lambda: _stored(data_home) > 200, interval=0.2)
                await _stop(tail)  # the command that started the server exits
                before = _stored(data_home)
                await trio.sleep(2.0)
                assert _answers(data_home), (tail_log.decode()[-2000:], run_log.decode()[-2000:])
                assert _stored(data_home) > before  # the run still writes
                assert await _stop(run) == 0, run_log.decode()[-3000:]
    assert "Traceback" not in run_log.decode() + tail_log.decode()


async def test_the_run_restarts_a_dead_server_on_the_same_dir(data_home: Path) -> None:
    run_log = bytearray()
    with trio.fail_after(60):
        async with _orders(data_home, *RUN, log=run_log) as run:
            await wait_for(lambda: _stored(data_home) > 100, interval=0.2)
            first = _pid(data_home)
            assert first is not None
            os.kill(first, signal.SIGKILL)
            with trio.fail_after(20):
                await wait_for(
                    lambda: _pid(data_home) not in (None, first) and _answers(data_home),
                    interval=0.2,
                )
            before = _stored(data_home)
            with trio.fail_after(20):
                await wait_for(lambda: _stored(data_home) > before + 100, interval=0.2)
            assert await _stop(run) == 0, run_log.decode()[-3000:]
    assert "restarting" in run_log.decode()
    assert not _answers(data_home)  # the run had started this one and no other run used it
