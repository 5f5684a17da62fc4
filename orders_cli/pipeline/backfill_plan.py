"""How a cold start finds its first trade: a market-specific strategy.

Every Binance market (docs/binance.md §3.3): one ``startTime`` call (no ``endTime``)
returns the oldest trades from that time on, however far back; ``fromId`` pages follow.
The futures' 1 h bound holds only when both times are sent, so it never applies to that
call: walking hour-long windows instead cost a futures cold start up to 24 calls of weight
20 for a quiet day (a tenth of USD-M's minute for one symbol). ``WindowedColdStart`` stays
for a source whose REST has no open-ended time query (it names it as its
``cold_start_planner``).
"""

from __future__ import annotations

from typing import Protocol, cast

import attrs

from orders_cli.models import Rejection, Trade
from orders_cli.sources.base import RestRequest, SourceLimits


class AggTradesSource(Protocol):
    """The part of ``Source`` the backfill uses (every ``Source`` satisfies it)."""

    @property
    def limits(self) -> SourceLimits: ...

    def agg_trades_request(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1000,
    ) -> RestRequest: ...

    def parse_agg_trades(
        self, symbol: str, body: bytes, rejected: list[Rejection] | None = None
    ) -> list[Trade]: ...


class ColdStartPlanner(Protocol):
    @property
    def open_ended(self) -> bool:
        """True when a short locate reply means the head was reached (no window end)."""
        ...

    def locate(
        self,
        source: AggTradesSource,
        symbol: str,
        since_ms: int,
        *,
        step: int,
        now_ms: int,
        limit: int,
    ) -> RestRequest | None:
        """The ``step``-th request looking for the first trade at/after ``since_ms``
        (called again with ``step + 1`` while replies are empty); None = give up."""
        ...


@attrs.frozen
class SpotColdStart:
    """ONE ``startTime=since_ms`` call, no ``endTime``; an empty reply ends the search
    (every Binance market, futures included)."""

    open_ended: bool = True

    def locate(
        self,
        source: AggTradesSource,
        symbol: str,
        since_ms: int,
        *,
        step: int,
        now_ms: int,
        limit: int,
    ) -> RestRequest | None:
        if step > 0:
            return None
        return source.agg_trades_request(symbol, start_time=since_ms, limit=limit)


@attrs.frozen
class WindowedColdStart:
    """``[start, start + window - 1]`` windows from ``since_ms`` to now, for a REST that
    only answers bounded time spans; ``fromId`` pages follow once a window holds a trade."""

    window_ms: int = 3_600_000
    open_ended: bool = False

    def locate(
        self,
        source: AggTradesSource,
        symbol: str,
        since_ms: int,
        *,
        step: int,
        now_ms: int,
        limit: int,
    ) -> RestRequest | None:
        start = since_ms + step * self.window_ms
        if start > now_ms:
            return None
        end = min(start + self.window_ms - 1, now_ms)
        return source.agg_trades_request(symbol, start_time=start, end_time=end, limit=limit)


def planner_for(source: object) -> ColdStartPlanner:
    """The source's own planner when it has one (a ``cold_start_planner`` attribute),
    else one open-ended ``startTime`` call (every Binance market: a span bound such as the
    futures' ``max_time_window_ms`` applies only to ``startTime`` with ``endTime``)."""
    own = getattr(source, "cold_start_planner", None)
    if own is not None:
        return cast(ColdStartPlanner, own)
    return SpotColdStart()
