"""Silent endpoints: a connection whose subscriptions are confirmed but which delivers
nothing while REST shows new trades of its symbols.

Such an endpoint is not a stall the watchdog can tell from a quiet market (a few illiquid
symbols are silent for minutes too), and it loses nothing REST cannot refill, so without
this watch it goes unnoticed: every trade arrives late through head checks (e.g. a USD-M
connection to the root path instead of ``/market``, a proxy that forwards subscriptions
but no data). The evidence comes from the head checks the pipeline already makes
(reconnects, silence checks, the sweep), so it costs no REST call:

1. the first head of a symbol asked after its connection went live is the baseline;
2. a later head above it proves trades after the connection went live;
3. if the connection has still delivered no trade at all ``grace_s`` after that reply,
   the endpoint is silent: reported (a WARNING naming the connection and its URL, the
   ``silent_endpoints`` counter, the connection's ``silent_alarm``, shown by the panel,
   the health record, ``orders status`` and the metrics) and reconnected.

A connection that delivers any trade is not silent, whatever its symbols do. Times are
trio's clock (monotonic); no host wall clock is involved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs
import trio

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 10.0
"""How long a trade REST has shown may still be on its way through the WebSocket."""


class Watched(Protocol):
    """The part of a shard the watch reads (``pipeline/shard.py`` ``Shard``)."""

    @property
    def name(self) -> str: ...

    @property
    def live_at(self) -> float | None:
        """When the current connection went live (subscriptions confirmed); None: down."""
        ...

    @property
    def live_trades(self) -> int:
        """Batches of frames with trades of its symbols the current connection received
        since ``live_at`` (0: none; trades dropped on overload count)."""
        ...

    @property
    def url(self) -> str:
        """The current connection's handshake URL."""
        ...

    def symbols(self) -> tuple[str, ...]: ...

    def carries(self, symbol: str) -> bool: ...

    def declare_silent(self, reason: str) -> None:
        """Report the connection silent and reconnect it."""
        ...


@attrs.define
class _Period:
    """What the watch knows about one connection of a shard (since ``live_at``)."""

    live_at: float
    baseline: dict[str, int] = attrs.field(factory=dict)  # symbol -> head id
    evidence: tuple[str, int, int] | None = None  # (symbol, baseline id, newer head id)
    due_at: float = 0.0


class EndpointWatch:
    def __init__(
        self, shards: Callable[[], Sequence[Watched]], grace_s: float = DEFAULT_GRACE_S
    ) -> None:
        self.shards = shards
        self.grace_s = grace_s
        self._periods: dict[str, _Period] = {}
        self._owners: dict[str, Watched] = {}  # symbol -> shard, rebuilt on a miss

    def _owner(self, symbol: str) -> Watched | None:
        shard = self._owners.get(symbol)
        if shard is None or not shard.carries(symbol):
            self._owners = {s: sh for sh in self.shards() for s in sh.symbols()}
            shard = self._owners.get(symbol)
        return shard

    def head_seen(self, symbol: str, agg_id: int, asked_at: float) -> None:
        """REST said, for a request made at ``asked_at``, that ``symbol``'s newest id is
        ``agg_id`` (the backfill's head checks call this)."""
        shard = self._owner(symbol)
        if shard is None or shard.live_at is None or asked_at < shard.live_at:
            return
        period = self._period(shard)
        if shard.live_trades or period.evidence is not None:
            return
        base = period.baseline.setdefault(symbol, agg_id)
        if agg_id > base:
            period.evidence = (symbol, base, agg_id)
            period.due_at = trio.current_time() + self.grace_s

    def _period(self, shard: Watched) -> _Period:
        period = self._periods.get(shard.name)
        if period is None or period.live_at != shard.live_at:
            assert shard.live_at is not None
            period = self._periods[shard.name] = _Period(shard.live_at)
        return period

    def check(self, now: float) -> list[str]:
        """Declare silent every connection whose evidence is older than the grace and
        that still delivered nothing; returns the names of those shards."""
        silent = []
        for shard in self.shards():
            period = self._periods.get(shard.name)
            if period is None or period.evidence is None or now < period.due_at:
                continue
            del self._periods[shard.name]
            if shard.live_at != period.live_at or shard.live_trades:
                continue  # reconnected meanwhile, or the trades came after all
            symbol, base, head = period.evidence
            quiet = now - period.live_at
            reason = (
                f"subscriptions confirmed {quiet:.0f}s ago, no trade since, while REST shows "
                f"{symbol} trades {base + 1}..{head}"
            )
            log.warning(
                "shard %s: silent endpoint %s: %s; reconnecting", shard.name, shard.url, reason
            )
            shard.declare_silent(f"silent endpoint {shard.url}: {reason}")
            silent.append(shard.name)
        return silent

    async def run(self, tick_s: float = 1.0) -> None:
        """Forever: check every ``tick_s``."""
        while True:
            await trio.sleep(tick_s)
            self.check(trio.current_time())
