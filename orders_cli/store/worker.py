"""Every redis-py call of the ingester goes through here: one worker thread at a time
(``trio.to_thread`` with a capacity of one). Never inline on the trio loop (a slow Redis
would stop pongs), never several threads (measured: a second one halves throughput).

A cancelled call abandons its thread (a hung Redis must not hold a stop past its grace):
the thread keeps the limiter until its call returns, so later calls still run one at a
time, after it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
import trio

from orders_cli.errors import RedisUnavailable

T = TypeVar("T")


class RedisWorker:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.limiter = trio.CapacityLimiter(1)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the writer thread. Connection errors become
        ``RedisUnavailable``."""
        try:
            return await trio.to_thread.run_sync(
                fn, *args, limiter=self.limiter, abandon_on_cancel=True
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise RedisUnavailable(f"lost Redis: {exc}") from exc

    async def call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(client)`` in the writer thread."""
        return await self.run(fn, self.client)
