"""The ingesters of one ``orders run``: one per market (``--market spot,usdm,coinm``),
each with its own keyspace (``usdm:``/``coinm:`` prefixes), shards, writer state and
backfill. They share the Redis client and its one thread (store/worker.py), and one REST
budget per Binance weight pool (rest/pool.py: spot alone, USD-M and COIN-M together).
A single market is a fleet of one, run exactly as before."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester, StoreClaim
from orders_cli.ingest.sentinel_watch import follow_primary
from orders_cli.redis_conn import sentinel_managed
from orders_cli.redis_types import RedisClient
from orders_cli.rest.pool import RestPools
from orders_cli.sources.base import Source
from orders_cli.telemetry import Telemetry, merged


class Fleet:
    def __init__(
        self,
        markets: Sequence[tuple[RunConfig, Source, Telemetry]],
        redis: RedisClient,
        *,
        claim: StoreClaim | None = None,
    ) -> None:
        """``markets``: each market's settings (its ``ws_url`` may differ: a simulator
        serves each market under its own path), source and telemetry, in order."""
        if not markets:
            raise ValueError("a fleet needs at least one market")
        pools = RestPools()
        limiter = trio.CapacityLimiter(1)
        self.ingesters: dict[str, Ingester] = {
            source.name: Ingester(
                cfg,
                source,
                redis,
                telemetry,
                claim=claim,
                rest_pool=pools.join(
                    source.weight_pool,
                    source.limits.rest_weight_per_minute,
                    cfg.rest_weight_fraction,
                ),
                redis_limiter=limiter,
            )
            for cfg, source, telemetry in markets
        }
        if len(self.ingesters) != len(markets):
            raise ValueError("one ingester per market")

    @property
    def first(self) -> Ingester:
        return next(iter(self.ingesters.values()))

    @property
    def cfg(self) -> RunConfig:
        """The settings the markets share (namespace, Redis, ingester id, ...)."""
        return self.first.cfg

    @property
    def telemetries(self) -> dict[str, Telemetry]:
        return {name: ing.telemetry for name, ing in self.ingesters.items()}

    def telemetry(self) -> Telemetry:
        """One view of every market's telemetry (telemetry.merged), taken now."""
        return merged(self.telemetries)

    def stop(self) -> None:
        for ing in self.ingesters.values():
            ing.stop()

    @property
    def stopping(self) -> bool:
        return self.first.stopping

    @property
    def admitted(self) -> bool:
        return all(ing.admitted.is_set() for ing in self.ingesters.values())

    async def wait_admitted(self) -> None:
        """Every market passed its start-up checks (a refusal ends ``run`` instead)."""
        for ing in self.ingesters.values():
            await ing.admitted.wait()

    async def run(self) -> None:
        """Every ingester until each has stopped and flushed (``stop``); one failing
        ends the others. A ``redis+sentinel://`` run follows its primary meanwhile
        (ingest/sentinel_watch.py)."""
        async with trio.open_nursery() as outer:
            if sentinel_managed(self.first.redis):
                outer.start_soon(follow_primary, self.first.worker, list(self.telemetries.values()))
            async with trio.open_nursery() as n:
                for ing in self.ingesters.values():
                    n.start_soon(ing.run)
            outer.cancel_scope.cancel()
