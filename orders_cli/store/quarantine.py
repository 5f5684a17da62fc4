"""A symbol's batch that Redis rejects with an error a retry would get again (a value it
cannot take): kept out for good, counted, sampled in the log, and its ids recorded as a
gap, so the backfill fetches them again and ``verify`` sees them while they are missing.
Never retried as it was, never blocking the other symbols of the round."""

from __future__ import annotations

import logging
from collections import Counter

import attrs

from orders_cli.messages import Backfilled, Dropped, WriterInput
from orders_cli.models import Trade
from orders_cli.redis_errors import Refusal

log = logging.getLogger("orders.writer")
SAMPLE_CHARS = 300


@attrs.define
class Round:
    """What one apply round left to do: conflicts to replan, refusals by symbol."""

    conflicts: list[str] = attrs.field(factory=list)
    refused: dict[str, Refusal] = attrs.field(factory=dict)  # transient: retry alone
    poison: dict[str, Refusal] = attrs.field(factory=dict)  # rejected: quarantine


def quarantine(
    symbol: str, items: list[WriterInput], refusal: Refusal, counters: Counter[str]
) -> list[WriterInput]:
    """The inputs to apply instead of ``items``: its trades replaced by a gap record
    (:class:`Dropped`: ids up to the highest one exist), everything else kept."""
    kept: list[WriterInput] = []
    ids: list[int] = []
    for item in items:
        if isinstance(item, Trade):
            ids.append(item.agg_id)
        elif isinstance(item, Backfilled):
            ids.extend(t.agg_id for t in item.trades)
        else:
            kept.append(item)
    counters["quarantined_batches"] += 1
    counters["quarantined_trades"] += len(ids)
    log.warning(
        "Redis rejected %s's batch of %d trades (%s): quarantined, its ids recorded as a "
        "gap; e.g. %s",
        symbol,
        len(ids),
        refusal.message,
        repr(items[0])[:SAMPLE_CHARS] if items else "-",
    )
    if ids:
        kept.append(Dropped(symbol, max(ids), len(ids)))
    return kept
