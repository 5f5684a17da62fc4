"""`orders` as a real child process: its argv and environment, and reading its stderr."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

from tests.integration.harness import KS

ROOT = Path(__file__).resolve().parents[2]


def orders_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "orders_cli", *args]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def collect(stream: trio.abc.ReceiveStream | None, into: bytearray, eof: trio.Event) -> None:
    assert stream is not None
    async for chunk in stream:
        into += chunk
    eof.set()


def stop_summary(stderr: str) -> dict[str, str]:
    """The figures of a stopped run's last line off a terminal (logfmt):
    ``... orders.run: stopped after_s=164 stored=82916 dup=1 ...``."""
    lines = [line for line in stderr.splitlines() if re.search(r"\bstopped after_s=", line)]
    assert lines, stderr[-3000:]
    return dict(part.split("=", 1) for part in lines[-1].split() if "=" in part)


def stored_count(r: Any, symbols: list[str]) -> int:
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.zcard(KS.trades_latest(s))
    return sum(pipe.execute())


def interrupt_after(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 40) -> str:
    """Read ``proc``'s stdout until ``marker`` appears (or it exits, or ``timeout``), then
    SIGINT it and return everything it printed (the caller asserts on it)."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while marker not in out and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            chunk = proc.stdout.read()
            if chunk:
                out += chunk
            else:
                time.sleep(0.05)  # polling a pipe for the ready line, not waiting for luck
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
        out += rest or b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out.decode(errors="replace")
