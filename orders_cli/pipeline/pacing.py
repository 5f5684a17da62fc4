"""Outgoing control-message pacing for one connection (the exchange counts every
incoming frame, pongs included, against a per-second limit)."""

from __future__ import annotations

import trio

# share of the exchange's limit we allow ourselves: pongs count against it too
HEADROOM = 0.8


class MessagePacer:
    """At most ``rate`` messages per second, evenly spaced. Safe for concurrent callers:
    each ``wait()`` reserves its own slot before sleeping."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self.interval = 1.0 / rate
        self._next_slot = -float("inf")

    @classmethod
    def under_limit(cls, limit_per_second: float) -> MessagePacer:
        """A pacer safely under the exchange limit (4/s for a limit of 5)."""
        return cls(max(limit_per_second * HEADROOM, min(limit_per_second, 1.0)))

    async def wait(self) -> None:
        now = trio.current_time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.interval
        if slot > now:
            await trio.sleep_until(slot)
        else:
            await trio.lowlevel.checkpoint()
