"""Messages between pipeline tasks (shards, backfill, writer) and the backfill priorities
they carry. Frozen value types; below the store, which builds some of them.

Flow:  shards ──Trade/ShardEvent──►  writer  ◄──Backfilled/ExchangeHole── backfill
                                        │
                                        └──GapRequest/HeadCheck──► backfill
"""

from __future__ import annotations

import attrs

from orders_cli.models import Trade

COLD_PRIORITY = 5
"""Cold starts walk forward from the retention start: after every other work."""
HEAD_PRIORITY = 4
"""Head checks (sweeps, reconnects, silent symbols): after every known gap."""


@attrs.frozen(slots=True)
class ShardEvent:
    """Something happened on a shard connection that the writer/backfill must know:
    ``kind`` is "connected" (streams live; after a reconnect: check the REST head of
    ``symbols`` for tail gaps), "stalled", "disconnected", "rotated"."""

    shard: str
    kind: str
    symbols: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class Dropped:
    """The reader had to drop live trades of ``symbol`` (channel full). ``max_agg_id`` is
    the highest dropped id: the writer records [watermark+1, max_agg_id] as a gap so a
    dropped *tail* (no later trade to reveal the hole) is still backfilled."""

    symbol: str
    max_agg_id: int
    count: int


@attrs.frozen(slots=True)
class GapRequest:
    """Fetch ids ``[first, last]`` (inclusive) of ``symbol`` from REST. ``last`` None =
    up to the head. ``priority``: lower runs first (0 = most recent gaps)."""

    symbol: str
    first: int
    last: int | None
    priority: int = 0
    reason: str = "gap"
    # the backfill gate's release count when the writer computed this request: pages
    # applied after it may already hold some of these ids (backfill_gate.PageGate)
    gate_epoch: int | None = None


@attrs.frozen(slots=True)
class ColdStart:
    """``symbol`` has no watermark: backfill from ``since_ms`` (epoch ms) up to
    ``until_id`` - 1 (the first live id seen), or to the head when None."""

    symbol: str
    since_ms: int
    until_id: int | None


@attrs.frozen(slots=True)
class HeadCheck:
    """Ask REST for the newest id of each symbol (``aggTrades?limit=1``) and fill any
    tail that is missing above the stored watermark."""

    symbols: tuple[str, ...]
    reason: str = "sweep"


@attrs.frozen(slots=True)
class Backfilled:
    """Trades fetched from REST (event_time = trade_time), in id order, for the writer."""

    symbol: str
    trades: tuple[Trade, ...]


@attrs.frozen(slots=True)
class ExchangeHole:
    """REST does not have ids ``[first, last]`` of ``symbol`` either: record it as an
    exchange-side hole, never retry it."""

    symbol: str
    first: int
    last: int


@attrs.frozen(slots=True)
class ColdStartDone:
    """A ``ColdStart`` finished. ``first_id`` is the first aggregate id inside the
    retention window (the reply of the ``startTime`` call), or None when the exchange has
    no trade of ``symbol`` in that window. Sent AFTER every ``Backfilled`` page of that
    cold start. The writer drops the part of the cold gap below ``first_id``."""

    symbol: str
    first_id: int | None


@attrs.frozen(slots=True)
class HeadSeen:
    """REST says the newest id of ``symbol`` is ``agg_id`` (answer to a HeadCheck). The
    writer opens a gap [watermark+1, agg_id] when it is above the watermark."""

    symbol: str
    agg_id: int


WriterInput = Trade | ShardEvent | Dropped | Backfilled | ExchangeHole | HeadSeen | ColdStartDone
BackfillInput = GapRequest | ColdStart | HeadCheck
