"""The client-side request-weight budget of one IP for one exchange (per minute window).

The exchange counts weight per clock minute; ``X-MBX-USED-WEIGHT-1M`` on each reply is the
truth and replaces our estimate. Time is trio's clock (``now`` is passed in) mapped onto
the exchange's minute by ``minute_offset`` seconds (``time.time() - trio.current_time()``
in production, so windows roll at real minute boundaries; 0 in tests). A server whose
minutes are not wall-clock minutes (a simulator, a skewed clock) shows it: its count drops
inside what we think is one minute; the budget then follows the server's phase.

Within a minute, calls are also paced (a token bucket: ``BURST_SHARE`` of the cap at once,
then the cap over ``SPREAD_S`` seconds): a cold start of every symbol used to spend the
whole minute's budget in its first seconds, hundreds of pages that the writer then
applied at once (a latency spike for live trades every minute); the weight per minute is
unchanged.

``GAP_SHARE`` of every window is kept for gap fills: a speculative call (a head check, a
sweep, a cold start's pages) waits when it would leave less than that share of the
minute's cap, or of the pacing bucket. After a restart, head checks and cold starts used
to spend a whole minute's weight and a disconnect later in that minute waited for the
next one. A speculative call that does not fit the window is not parked until the next
one (the REST client raises ``WeightDeferred``): parked, it would hold its symbol, and a
gap in that symbol would wait for the next window with the gap share's weight unused.
"""

from __future__ import annotations

import math

import attrs

MINUTE = 60.0
BURST_SHARE = 0.1  # of the cap, usable at once
SPREAD_S = 30.0  # the rest of a minute's cap flows in over this many seconds
GAP_SHARE = 0.3  # of the cap and of the bucket: only gap fills may use it


@attrs.define
class WeightBudget:
    limit: int  # the exchange's REQUEST_WEIGHT per minute
    target_fraction: float = 0.8  # we plan to use at most this share of it
    minute_offset: float = 0.0
    used: int = 0  # estimate (then header truth) for window ``window``
    window: int = -1
    last_header: int | None = None  # the exchange's count in its latest reply
    tokens: float | None = None  # the pacing bucket (None: full)
    tokens_at: float = 0.0

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

    @property
    def burst(self) -> float:
        return max(1.0, self.cap * BURST_SHARE)

    @property
    def rate(self) -> float:
        """Pacing tokens (weight) per second."""
        return self.cap / SPREAD_S

    def _cost(self, weight: int) -> float:
        """Tokens a call takes: a call heavier than the burst waits for a full bucket."""
        return min(float(weight), self.burst)

    def _refill(self, now: float) -> float:
        tokens = self.burst if self.tokens is None else self.tokens
        tokens = min(self.burst, tokens + self.rate * max(0.0, now - self.tokens_at))
        self.tokens, self.tokens_at = tokens, now
        return tokens

    def fits_window(self, now: float, weight: int, *, speculative: bool = False) -> bool:
        """A call of ``weight`` fits the current window's cap (a ``speculative`` one: what
        ``GAP_SHARE`` leaves of it); when not, it waits for the next window. A call
        heavier than the whole cap fits an empty window."""
        self._roll(now)
        keep = GAP_SHARE if speculative else 0.0
        return self.used == 0 or self.used + weight <= self.cap * (1.0 - keep)

    def delay(self, now: float, weight: int, *, speculative: bool = False) -> float:
        """Seconds to wait before a call of ``weight`` fits (0 = go now): the next window
        when it does not fit this one (``fits_window``); within the window, calls also
        wait for the pacing bucket. A ``speculative`` call leaves ``GAP_SHARE`` of both
        to gap fills."""
        if not self.fits_window(now, weight, speculative=speculative):
            return max(0.0, self.next_minute_at(now) - now)
        keep = GAP_SHARE if speculative else 0.0
        tokens, need = self._refill(now), self._cost(weight) + keep * self.burst
        if tokens >= need - 1e-6:  # float dust must not become a wait too short to move the clock
            return 0.0
        return max(1e-3, (need - tokens) / self.rate)

    def reserve(self, now: float, weight: int) -> None:
        self._roll(now)
        self.used += weight
        self.tokens = self._refill(now) - self._cost(weight)

    def adopt(self, now: float, used: int, in_flight: int = 0) -> None:
        """The exchange says ``used`` weight is spent in its current minute; ``in_flight``
        is the weight of our calls that reply could not count yet."""
        if self.last_header is not None and used < self.last_header:
            # the exchange's minute just rolled: make ours roll at the same moment
            self.minute_offset = -now % MINUTE
        self.last_header = used
        self._roll(now)
        self.used = used + in_flight
