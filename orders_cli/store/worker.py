"""Every redis-py call of the ingester goes through here: one worker thread at a time
(``trio.to_thread`` with a capacity of one). Never inline on the trio loop (a slow Redis
would stop pongs), never several threads (measured: a second one halves throughput).

Failures come out as orders errors: a lost connection or a refusal that passes
(:class:`RedisUnavailable`, :class:`RedisRefusing`: retry), or an error reply that the
same command would get again (:class:`RedisRejected`). While Redis is unavailable the
telemetry says so (panel, health, metrics) and the log says it once per episode.

A cancelled call abandons its thread (a hung Redis must not hold a stop past its grace):
the thread keeps the limiter until its call returns, so later calls still run one at a
time, after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
import trio

from orders_cli.errors import RedisRefusing, RedisRejected, RedisUnavailable
from orders_cli.redis_errors import LOST, as_orders_error, classify
from orders_cli.redis_types import RedisClient
from orders_cli.retry import Backoff
from orders_cli.telemetry import Telemetry

T = TypeVar("T")
log = logging.getLogger("orders.redis")
RETRY_BASE_S = 0.1
RETRY_CAP_S = 5.0


class RedisWorker:
    def __init__(
        self,
        client: RedisClient,
        telemetry: Telemetry | None = None,
        *,
        limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        """``limiter``: the one Redis thread this worker shares with the other markets'
        workers of the process (None: its own)."""
        self.client = client
        self.limiter = limiter if limiter is not None else trio.CapacityLimiter(1)
        self.telemetry = telemetry if telemetry is not None else Telemetry()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the writer thread (errors: see the module doc)."""
        try:
            return await trio.to_thread.run_sync(
                fn, *args, limiter=self.limiter, abandon_on_cancel=True
            )
        except redis.exceptions.ResponseError as exc:
            raise as_orders_error(classify(exc), getattr(fn, "__name__", "a command")) from exc
        except LOST as exc:
            raise RedisUnavailable(f"lost Redis: {exc}") from exc

    async def call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(client)`` in the writer thread."""
        return await self.run(fn, self.client)

    async def run_retrying(self, fn: Callable[..., T], *args: Any, cap_s: float = RETRY_CAP_S) -> T:
        """:meth:`run` until Redis takes it: waits out a lost connection or a refusal
        (OOM, READONLY, ...) with capped backoff, showing the state meanwhile."""
        backoff = Backoff(RETRY_BASE_S, cap_s)
        while True:
            try:
                out = await self.run(fn, *args)
            except RedisUnavailable as exc:
                self.waiting(exc, getattr(fn, "__name__", "a command"))
                await trio.sleep(backoff.next())
                continue
            self.accepted()
            return out

    def waiting(self, exc: RedisUnavailable | RedisRejected, what: str) -> None:
        """Redis did not take ``what``: show it (a log line when the state changes)."""
        t = self.telemetry
        state, reason = "retrying", None
        if isinstance(exc, RedisRefusing):
            state, reason = "refusing", exc.reason
        elif isinstance(exc, RedisRejected):
            state, reason = "rejecting", exc.code
        if (t.redis_state, t.redis_refusal) != (state, reason):
            log.warning("Redis %s, keeping %s and retrying: %s", state, what, exc)
        t.redis_state, t.redis_refusal = state, reason
        t.count("redis_refusals" if reason else "redis_retries")

    def accepted(self) -> None:
        t = self.telemetry
        if t.redis_state not in ("ok", "unknown"):
            log.info("Redis writes are going through")
        t.redis_state, t.redis_refusal = "ok", None
