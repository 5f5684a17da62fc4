"""Listing sync: poll exchangeInfo (weight-aware, through the REST budget), keep
``symbol:{S}:info`` current (``DELISTED`` for a subscribed symbol no longer listed at all),
subscribe new TRADING symbols without a restart and unsubscribe those that leave TRADING
(after a final head check, like pipeline/closeout.py does on a start)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import attrs
import trio

from orders_cli.errors import ExchangeRejected, ExchangeUnavailable
from orders_cli.messages import BackfillInput, HeadCheck
from orders_cli.models import SymbolInfo
from orders_cli.pipeline.discovery import fetch_exchange_info
from orders_cli.rest.client import RestClient
from orders_cli.sources.base import Source
from orders_cli.telemetry import Telemetry

log = logging.getLogger("orders.listing")


class Subscriptions(Protocol):
    """What the listing sync changes: the run's subscribed symbols (a
    :class:`~orders_cli.pipeline.shardpool.ShardPool`)."""

    def symbols(self) -> list[str]: ...

    async def add(self, nursery: trio.Nursery, symbols: Sequence[str]) -> None: ...

    async def remove(self, symbols: Sequence[str]) -> None: ...


@attrs.define
class ListingSync:
    """``infos``: the run's current listing (updated in place); ``wanted``: the part of
    a listing this run is about (``--symbols``); ``save_infos``: write changed infos to
    the store; ``mark_delisted``: record symbols no longer listed at all as ``DELISTED``;
    ``request_backfill``: hand a request to the backfill."""

    source: Source
    rest: RestClient
    pool: Subscriptions
    infos: dict[str, SymbolInfo]
    wanted: Callable[[list[SymbolInfo]], list[SymbolInfo]]
    save_infos: Callable[[Sequence[SymbolInfo]], Awaitable[None]]
    mark_delisted: Callable[[Sequence[str]], Awaitable[None]]
    request_backfill: Callable[[BackfillInput], Awaitable[None]]
    telemetry: Telemetry

    async def run(self, interval_s: float, nursery: trio.Nursery) -> None:
        while True:
            await trio.sleep(interval_s)
            try:
                await self.sync_once(nursery)
            except (ExchangeUnavailable, ExchangeRejected) as exc:
                log.warning("listing sync skipped: %s", exc)
                self.telemetry.count("listing_sync_errors")

    async def sync_once(self, nursery: trio.Nursery) -> tuple[list[str], list[str]]:
        body = await fetch_exchange_info(self.rest, self.source)
        listed = self.source.parse_exchange_info(body)
        infos = self.wanted(listed)
        changed = [i for i in infos if self.infos.get(i.symbol) != i]
        if changed:
            await self.save_infos(changed)
        self.infos.update({i.symbol: i for i in infos})
        subscribed = set(self.pool.symbols())
        trading = {i.symbol for i in infos if i.trading}
        added = sorted(trading - subscribed)
        removed = sorted(subscribed - trading)
        await self.pool.remove(removed)
        if removed:  # their last trades may not have reached us live: ask REST for the head
            names = {i.symbol for i in listed}
            gone_for_good = [s for s in removed if s not in names]
            if gone_for_good:
                await self.mark_delisted(gone_for_good)
            await self.request_backfill(HeadCheck(tuple(removed), reason="unlisted"))
        await self.pool.add(nursery, added)
        if added or removed:
            log.info("listing: +%d symbols, -%d symbols", len(added), len(removed))
            self.telemetry.count("listings_added", len(added))
            self.telemetry.count("listings_removed", len(removed))
        return added, removed
