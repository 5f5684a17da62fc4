"""`orders` as a real child process: its argv and environment, and reading its stderr."""

from __future__ import annotations

import os
import sys
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


def stored_count(r: Any, symbols: list[str]) -> int:
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.zcard(KS.trades_latest(s))
    return sum(pipe.execute())
