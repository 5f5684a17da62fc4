"""The client-side request-weight budget of one IP for one exchange (per minute window).

The exchange counts weight per clock minute; ``X-MBX-USED-WEIGHT-1M`` on each reply is the
truth and replaces our estimate. Time is trio's clock (``now`` is passed in) mapped onto
the exchange's minute by ``minute_offset`` seconds (``time.time() - trio.current_time()``
in production, so windows roll at real minute boundaries; 0 in tests). A server whose
minutes are not wall-clock minutes (a simulator, a skewed clock) shows it: its count drops
inside what we think is one minute; the budget then follows the server's phase.
"""

from __future__ import annotations

import math

import attrs

MINUTE = 60.0


@attrs.define
class WeightBudget:
    limit: int  # the exchange's REQUEST_WEIGHT per minute
    target_fraction: float = 0.8  # we plan to use at most this share of it
    minute_offset: float = 0.0
    used: int = 0  # estimate (then header truth) for window ``window``
    window: int = -1
    last_header: int | None = None  # the exchange's count in its latest reply

    @property
    def cap(self) -> int:
        return max(1, int(self.limit * self.target_fraction))

    def minute(self, now: float) -> int:
        return math.floor((now + self.minute_offset) / MINUTE)

    def next_minute_at(self, now: float) -> float:
        """The trio time at which the next exchange minute starts."""
        return (self.minute(now) + 1) * MINUTE - self.minute_offset

    def _roll(self, now: float) -> None:
        m = self.minute(now)
        if m != self.window:
            self.window, self.used = m, 0

    def delay(self, now: float, weight: int) -> float:
        """Seconds to wait before a call of ``weight`` fits (0 = go now). A call heavier
        than the whole cap goes alone at the start of a window."""
        self._roll(now)
        if self.used == 0 or self.used + weight <= self.cap:
            return 0.0
        return max(0.0, self.next_minute_at(now) - now)

    def reserve(self, now: float, weight: int) -> None:
        self._roll(now)
        self.used += weight

    def adopt(self, now: float, used: int, in_flight: int = 0) -> None:
        """The exchange says ``used`` weight is spent in its current minute; ``in_flight``
        is the weight of our calls that reply could not count yet."""
        if self.last_header is not None and used < self.last_header:
            # the exchange's minute just rolled: make ours roll at the same moment
            self.minute_offset = -now % MINUTE
        self.last_header = used
        self._roll(now)
        self.used = used + in_flight
