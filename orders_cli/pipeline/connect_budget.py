"""The connection-attempt budget the shards of a process share (e.g. 300 attempts per
rolling 5 minutes per IP). Their reconnect delays are :mod:`orders_cli.retry`'s."""

from __future__ import annotations

from collections import deque

import trio

from orders_cli.sources.base import SourceLimits


class ConnectBudget:
    """At most ``max_attempts`` connection attempts per rolling ``window`` seconds, shared
    by every shard of a process. ``acquire()`` waits (trio clock) while exhausted."""

    def __init__(self, max_attempts: int, window: float = 300.0) -> None:
        if max_attempts < 1 or window <= 0:
            raise ValueError(f"bad budget: {max_attempts} per {window}s")
        self.max_attempts = max_attempts
        self.window = window
        self._stamps: deque[float] = deque()

    @classmethod
    def from_limits(cls, limits: SourceLimits) -> ConnectBudget:
        return cls(limits.max_connects_per_5min, 300.0)

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()

    def available(self) -> int:
        self._expire(trio.current_time())
        return self.max_attempts - len(self._stamps)

    async def acquire(self) -> None:
        """Take one attempt, waiting until the oldest attempt leaves the window if needed."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            now = trio.current_time()
            self._expire(now)
            if len(self._stamps) < self.max_attempts:
                self._stamps.append(now)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            await trio.sleep_until(self._stamps[0] + self.window)
