"""Listing sync: a subscribed symbol that vanishes from exchangeInfo is unsubscribed,
head-checked one last time, and its info hash says DELISTED."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import trio

from orders_cli.messages import BackfillInput, HeadCheck
from orders_cli.models import SymbolInfo
from orders_cli.pipeline.listing import ListingSync
from orders_cli.rest.client import RestClient
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.store.info import DELISTED, mark_delisted, write_infos
from orders_cli.store.keys import Keyspace
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry


@attrs.define
class FakePool:
    """The run's subscriptions: what ListingSync adds and removes."""

    subscribed: list[str]
    added: list[str] = attrs.field(factory=list)

    def symbols(self) -> list[str]:
        return list(self.subscribed)

    async def add(self, _nursery: trio.Nursery, symbols: Sequence[str]) -> None:
        self.added.extend(symbols)
        self.subscribed.extend(symbols)

    async def remove(self, symbols: Sequence[str]) -> None:
        self.subscribed = [s for s in self.subscribed if s not in symbols]


async def test_a_subscribed_symbol_gone_from_the_listing_is_marked_delisted(
    redis_shared: Any,
) -> None:
    r = redis_shared.client()
    ks = Keyspace()
    r.hset(ks.symbol_info("GONEUSDT"), mapping={"status": "TRADING", "base_asset": "GONE"})
    sim = Simulator(SimConfig.from_fixture(n_symbols=3, seed=1, total_rate=10.0))
    source = get_source("spot")
    worker = RedisWorker(r)
    pool = FakePool(["GONEUSDT"])
    backfill: list[BackfillInput] = []

    async def save_infos(infos: Sequence[SymbolInfo]) -> None:
        await worker.run(write_infos, r, ks, infos, source.name, 1)

    async def delisted(symbols: Sequence[str]) -> None:
        await worker.run(mark_delisted, r, ks, symbols, source.name, 1)

    async def request_backfill(req: BackfillInput) -> None:
        backfill.append(req)

    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            async with RestClient(sim.rest_url) as rest:
                sync = ListingSync(
                    source,
                    rest,
                    pool,
                    {},
                    lambda infos: infos,
                    save_infos,
                    delisted,
                    request_backfill,
                    Telemetry(),
                )
                _added, removed = await sync.sync_once(n)
            n.cancel_scope.cancel()
    assert removed == ["GONEUSDT"]
    assert "GONEUSDT" not in pool.symbols()
    assert backfill == [HeadCheck(("GONEUSDT",), reason="unlisted")]
    assert r.hget(ks.symbol_info("GONEUSDT"), "status") == DELISTED.encode()
    assert r.hget(ks.symbol_info("GONEUSDT"), "base_asset") == b"GONE"
