"""What the exchange counts per weight pool of one IP: the minute's weight (``budget``),
a ban (418), a pause (429, 403) and the weight of calls in flight. Binance keeps one pool
for spot and one shared by USD-M and COIN-M (docs/binance.md §3.4): the REST clients of
markets in one pool (one ``orders run`` of several markets) share one :class:`RestPool`,
so together they never pass what the exchange allows."""

from __future__ import annotations

import attrs

from orders_cli.rest.budget import WeightBudget


@attrs.define
class RestPool:
    budget: WeightBudget
    banned_until: float | None = None  # trio clock, after a 418
    paused_until: float | None = None  # trio clock, after a 429 or 403
    in_flight: int = 0  # weight of calls sent and not answered yet
    forbidden: int = 0  # 403s in a row
    # False: align the budget's minutes with the wall clock on first use (in trio)
    aligned: bool = False
    members: int = 1  # the markets spending it: each plans its speculative calls on a share

    @property
    def share(self) -> int:
        """One member's share of the per-minute limit (sweeps and silence checks plan
        with it, so the markets of one pool do not each plan on the whole)."""
        return max(1, self.budget.limit // self.members)


@attrs.define
class RestPools:
    """One :class:`RestPool` per pool name (``Source.weight_pool``); the first market to
    join a pool sets its limit and target fraction."""

    pools: dict[str, RestPool] = attrs.field(factory=dict)

    def join(self, name: str, limit: int, target_fraction: float) -> RestPool:
        """The pool ``name``, with one more market spending it."""
        pool = self.pools.get(name)
        if pool is None:
            pool = self.pools[name] = RestPool(WeightBudget(limit, target_fraction))
        else:
            pool.members += 1
        return pool
