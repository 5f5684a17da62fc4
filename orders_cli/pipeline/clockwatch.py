"""How far the host clock is from one connection's event times (``E``): a warning, never
a reason to reject a trade (trades are checked against fixed bounds, not the host clock).

Over each window the lowest ``host - E`` of the frames seen is taken: ``host - E`` is the
clock offset plus the frame's travel time, which is never negative, so the lowest is the
offset plus the fastest frame's latency. A connection whose every frame in a window was
late by more than the limit (a host clock ahead, or a backlog that large) or early (a host
clock behind) is "drifting" until a window comes back within the limit.
"""

from __future__ import annotations

import logging

import attrs
import trio

from orders_cli.clock import now_ms
from orders_cli.telemetry import CLOCK_OFFSET_LIMIT_MS, ConnectionState, Telemetry

log = logging.getLogger(__name__)

CLOCK_WINDOW_S = 10.0


@attrs.define
class ClockWatch:
    limit_ms: int = CLOCK_OFFSET_LIMIT_MS
    window_s: float = CLOCK_WINDOW_S
    offset_ms: int | None = None
    """``host - E`` estimated over the last complete window (None before the first)."""
    drifting: bool = False
    _lowest: int | None = None
    _window_end: float | None = None

    def observe(self, event_ms: int, host_ms: int, now: float) -> bool:
        """One frame's event time and the host's wall clock when it arrived (``now``:
        a monotonic clock). True when this closed a window (``offset_ms`` is new)."""
        lag = host_ms - event_ms
        if self._lowest is None or lag < self._lowest:
            self._lowest = lag
        if self._window_end is None:
            self._window_end = now + self.window_s
        if now < self._window_end:
            return False
        self.offset_ms, self._lowest, self._window_end = self._lowest, None, None
        self.drifting = abs(self.offset_ms) > self.limit_ms
        return True

    def frame(self, shard: str, event_ms: int, conn: ConnectionState, tel: Telemetry) -> None:
        """Observe a frame that just arrived on ``shard``; publish each window's offset on
        ``conn`` and log once when a drift starts and once when it ends."""
        was = self.drifting
        if not self.observe(event_ms, now_ms(), trio.current_time()):
            return
        conn.clock_offset_ms = self.offset_ms
        if self.drifting and not was:
            tel.count("clock_offset_episodes")
            log.warning(
                "shard %s: the host clock is %+.1fs off the exchange's event times (or every "
                "frame is that late); trades are kept, retention is bounded by trade times",
                shard,
                (self.offset_ms or 0) / 1000,
            )
        elif was and not self.drifting:
            log.info("shard %s: host clock back within %gs", shard, self.limit_ms / 1000)
