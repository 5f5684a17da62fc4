"""When a shard connection is replaced: before the exchange's lifetime (24 h) ends,
jittered per connection so the shards of a process never rotate together."""

from __future__ import annotations

import random

from orders_cli.sources.base import SourceLimits

# rotate this long before the exchange closes the connection by itself
LIFETIME_MARGIN_S = 3600.0
# a connection rotates at age rotate_after * (1 - U(0, JITTER))
JITTER = 0.1


class RotationPlan:
    """Ages (seconds) at which connections are rotated."""

    def __init__(self, rotate_after: float, *, rng: random.Random | None = None) -> None:
        if rotate_after <= 0:
            raise ValueError(f"rotate_after must be > 0, got {rotate_after}")
        self.rotate_after = rotate_after
        self._rng = rng if rng is not None else random.Random()

    @classmethod
    def for_source(
        cls, limits: SourceLimits, rotate_after: float | None, *, rng: random.Random | None = None
    ) -> RotationPlan:
        """``rotate_after`` None: one hour before the source's connection lifetime."""
        if rotate_after is None:
            lifetime = limits.connection_lifetime_s
            rotate_after = max(lifetime - LIFETIME_MARGIN_S, lifetime * 0.9)
        return cls(rotate_after, rng=rng)

    def age(self) -> float:
        """A jittered rotation age in (rotate_after * (1 - JITTER), rotate_after]."""
        return self.rotate_after * (1.0 - self._rng.uniform(0.0, JITTER))
