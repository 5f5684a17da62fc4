"""Closing out symbols that left TRADING while no run was recording them.

A symbol halted (BREAK, HALT, CANCEL_ONLY, ...) or delisted while the ingester was down is
neither listed as TRADING nor subscribed on the next start, so its trades from the stored
watermark up to the halt would never be fetched. On every start, each symbol Redis holds
trades of (a watermark in its state) that the exchange no longer lists as TRADING gets its
open gaps resumed and one final head check (then the gap up to the REST head is filled);
its info hash gets the new status (``DELISTED`` when it is not listed at all)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from orders_cli.models import SymbolInfo
from orders_cli.redis_types import RedisClient
from orders_cli.store.info import held_symbols
from orders_cli.store.keys import Keyspace
from orders_cli.store.symbol_io import load_states


@attrs.frozen(slots=True)
class Closeout:
    symbols: tuple[str, ...] = ()  # stored trades, no longer TRADING: resume + head check
    delisted: tuple[str, ...] = ()  # held, wanted, absent from the listing


def find_closeout(
    redis: RedisClient, ks: Keyspace, listed: Sequence[SymbolInfo], wanted: Collection[str] = ()
) -> Closeout:
    """Which held symbols to close out (``wanted``: ``--symbols``, empty for all).
    Synchronous: run it in the Redis worker thread."""
    trading = {i.symbol for i in listed if i.trading}
    names = {i.symbol for i in listed}
    scope = set(wanted)
    candidates = sorted(s for s in held_symbols(redis, ks) - trading if not scope or s in scope)
    states = load_states(redis, ks, candidates)
    return Closeout(
        symbols=tuple(s for s in candidates if states[s].watermark is not None),
        delisted=tuple(s for s in candidates if s not in names),
    )
