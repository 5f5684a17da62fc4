"""The one retry policy of every retry loop: capped exponential backoff with jitter.

:class:`RetryPolicy` is the pure rule (the delay before retry number ``attempt``, for loops
that keep their own count, e.g. a work item that carries it); :class:`Backoff` is the
same rule with the count kept (``next()`` after a failure, ``reset()`` after a success).
The exponent is capped as well as the delay: ``base * 2**n`` overflows a float after
~1,024 failures, which a day-long outage reaches.
"""

from __future__ import annotations

import random
from typing import Literal

import attrs

Jitter = Literal["full", "equal", "none"]
"""``full``: uniform in [0, ceiling] (spreads many clients apart: reconnects);
``equal``: half fixed, half random (never retries at once); ``none``: the ceiling."""

_MAX_EXPONENT = 64  # 2**64 times any sane base is past any sane cap


def _check(instance: RetryPolicy, attribute: attrs.Attribute[float], cap: float) -> None:
    if instance.base <= 0 or cap < instance.base:
        raise ValueError(f"need 0 < base <= cap, got base={instance.base} cap={cap}")


@attrs.frozen(slots=True)
class RetryPolicy:
    """Delay before retry ``attempt`` (0-based): ``min(cap, base * 2**attempt)``, jittered."""

    base: float = 0.5
    cap: float = attrs.field(default=30.0, validator=_check)
    jitter: Jitter = "full"

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry ``attempt``; never above ``cap``, for any count."""
        return min(self.cap, self.base * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        top = self.ceiling(attempt)
        if self.jitter == "none":
            return top
        draw = (rng if rng is not None else random).uniform
        if self.jitter == "equal":
            return top / 2 + draw(0.0, top / 2)
        return draw(0.0, top)


class Backoff:
    """A :class:`RetryPolicy` with its failure count: ``next()`` is the delay before the
    next attempt (and counts it), ``reset()`` after a success starts from ``base`` again."""

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        *,
        jitter: Jitter = "full",
        rng: random.Random | None = None,
    ) -> None:
        self.policy = RetryPolicy(base, cap, jitter)
        self.attempts = 0
        self._rng = rng if rng is not None else random.Random()

    @property
    def base(self) -> float:
        return self.policy.base

    @property
    def cap(self) -> float:
        return self.policy.cap

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return self.policy.ceiling(self.attempts)

    def next(self) -> float:
        delay = self.policy.delay(self.attempts, self._rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
