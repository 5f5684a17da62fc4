"""Listing sync: poll exchangeInfo (weight-aware, through the REST budget), keep
``symbol:{S}:info`` current (``DELISTED`` for a subscribed symbol no longer listed at all),
subscribe new TRADING symbols without a restart and unsubscribe those that leave TRADING
(after a final head check, like pipeline/closeout.py does on a start)."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import trio

from orders_cli.backoff import ConnectBudget
from orders_cli.clock import now_ms
from orders_cli.errors import ExchangeRejected, ExchangeUnavailable
from orders_cli.messages import HeadCheck, WriterInput
from orders_cli.pipeline.discovery import fetch_exchange_info
from orders_cli.rest.client import RestClient
from orders_cli.store.info import mark_delisted, write_infos

if TYPE_CHECKING:
    from orders_cli.ingest.ingester import Ingester

log = logging.getLogger("orders.listing")


class ListingSync:
    def __init__(
        self,
        ingester: Ingester,
        rest: RestClient,
        writer_send: trio.MemorySendChannel[WriterInput],
        budget: ConnectBudget,
        rng: random.Random,
        per_connection: int,
    ) -> None:
        self.ing = ingester
        self.rest = rest
        self.writer_send = writer_send
        self.budget = budget
        self.rng = rng
        self.per_connection = per_connection

    async def run(self, interval_s: float, nursery: trio.Nursery) -> None:
        while True:
            await trio.sleep(interval_s)
            try:
                await self.sync_once(nursery)
            except (ExchangeUnavailable, ExchangeRejected) as exc:
                log.warning("listing sync skipped: %s", exc)
                self.ing.telemetry.count("listing_sync_errors")

    async def sync_once(self, nursery: trio.Nursery) -> tuple[list[str], list[str]]:
        ing = self.ing
        source = ing.source
        body = await fetch_exchange_info(self.rest, source)
        listed = source.parse_exchange_info(body)
        infos = ing.wanted(listed)
        changed = [i for i in infos if ing.infos.get(i.symbol) != i]
        if changed:
            await ing.worker.run_retrying(
                write_infos, ing.redis, ing.ks, changed, source.name, now_ms()
            )
        ing.infos.update({i.symbol: i for i in infos})
        subscribed = set(ing.subscribed)
        trading = {i.symbol for i in infos if i.trading}
        added = sorted(trading - subscribed)
        removed = sorted(s for s in subscribed if s not in trading)
        for shard in ing.shards:
            gone = [source.stream_name(s) for s in shard.symbols() if s in removed]
            if gone:
                await shard.remove_streams(gone)
        if removed:  # their last trades may not have reached us live: ask REST for the head
            names = {i.symbol for i in listed}
            gone_for_good = [s for s in removed if s not in names]
            if gone_for_good:
                await ing.worker.run(
                    mark_delisted, ing.redis, ing.ks, gone_for_good, source.name, now_ms()
                )
            await ing.request_backfill(HeadCheck(tuple(removed), reason="unlisted"))
        new_streams = [source.stream_name(s) for s in added]
        for shard in ing.shards:
            room = self.per_connection - len(shard.streams)
            if new_streams and room > 0:
                take, new_streams = new_streams[:room], new_streams[room:]
                await shard.add_streams(take)
        while new_streams:
            take, new_streams = (
                new_streams[: self.per_connection],
                new_streams[self.per_connection :],
            )
            await ing.start_shard(nursery, take, self.writer_send, self.budget, self.rng)
        if added or removed:
            log.info("listing: +%d symbols, -%d symbols", len(added), len(removed))
            ing.telemetry.count("listings_added", len(added))
            ing.telemetry.count("listings_removed", len(removed))
        return added, removed
