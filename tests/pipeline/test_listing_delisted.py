"""Listing sync: a subscribed symbol that vanishes from exchangeInfo is unsubscribed,
head-checked one last time, and its info hash says DELISTED."""

from __future__ import annotations

import random
from typing import Any

import attrs
import trio

from orders_cli.backoff import ConnectBudget
from orders_cli.messages import BackfillInput, HeadCheck
from orders_cli.models import SymbolInfo
from orders_cli.pipeline.listing import ListingSync
from orders_cli.rest.client import RestClient
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.base import Source
from orders_cli.sources.registry import get_source
from orders_cli.store.info import DELISTED
from orders_cli.store.keys import Keyspace
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry


@attrs.define
class FakeIngester:
    """What ListingSync uses of the Ingester: one subscribed symbol, no shards."""

    redis: Any
    source: Source = attrs.field(factory=lambda: get_source("spot"))
    ks: Keyspace = attrs.field(factory=Keyspace)
    subscribed: list[str] = attrs.field(factory=list)
    infos: dict[str, SymbolInfo] = attrs.field(factory=dict)
    shards: list[Any] = attrs.field(factory=list)
    telemetry: Telemetry = attrs.field(factory=Telemetry)
    backfill: list[BackfillInput] = attrs.field(factory=list)
    started: list[list[str]] = attrs.field(factory=list)

    @property
    def worker(self) -> RedisWorker:
        return RedisWorker(self.redis)

    def wanted(self, infos: list[SymbolInfo]) -> list[SymbolInfo]:
        return infos

    async def request_backfill(self, req: BackfillInput) -> None:
        self.backfill.append(req)

    async def start_shard(self, _n: Any, streams: list[str], *_args: Any) -> None:
        self.started.append(streams)


async def test_a_subscribed_symbol_gone_from_the_listing_is_marked_delisted(
    redis_shared: Any,
) -> None:
    r = redis_shared.client()
    ks = Keyspace()
    r.hset(ks.symbol_info("GONEUSDT"), mapping={"status": "TRADING", "base_asset": "GONE"})
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, seed=1, total_rate=10.0))
    ing = FakeIngester(r, subscribed=["GONEUSDT"])
    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            async with RestClient(sim.rest_url) as rest:
                send, _recv = trio.open_memory_channel[Any](10)
                sync = ListingSync(
                    ing,  # type: ignore[arg-type]  # a fake with the Ingester's used surface
                    rest,
                    send,
                    ConnectBudget(10),
                    random.Random(1),
                    per_connection=100,
                )
                _added, removed = await sync.sync_once(n)
            n.cancel_scope.cancel()
    assert removed == ["GONEUSDT"]
    assert ing.backfill == [HeadCheck(("GONEUSDT",), reason="unlisted")]
    assert r.hget(ks.symbol_info("GONEUSDT"), "status") == DELISTED.encode()
    assert r.hget(ks.symbol_info("GONEUSDT"), "base_asset") == b"GONE"
