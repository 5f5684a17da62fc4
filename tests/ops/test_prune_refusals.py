"""`orders prune` is the tool that frees memory: on a full Redis (its lock's SET refused
with OOM, deletes allowed) it checks that no other prune holds the lock and runs without
it, saying so. The in-run retention pass never crashes the run and goes in chunks that
let the writer in between."""

from __future__ import annotations

import logging
import sys
import time
import types
from typing import Any

import orjson
import pytest
import redis.exceptions
import trio

from orders_cli.errors import RedisUnavailable
from orders_cli.ingest.services import retention
from orders_cli.store.keys import Keyspace
from orders_cli.store.prune import prune_steps
from orders_cli.store.prune_lock import PruneLock
from orders_cli.store.retention_policy import PruneReport, RetentionPolicy
from orders_cli.store.worker import RedisWorker
from tests.ops.helpers import DAY_MS, store, trade
from tests.redis_server import RedisServer
from tests.store.redis_faults import out_of_memory, replica_of

KS = Keyspace()


def prune_cli(capfd: pytest.CaptureFixture[str], url: str) -> tuple[int, dict[str, Any]]:
    from orders_cli.cli.app import main

    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["prune", "--keep", "1h", "--json", "--redis-url", url])
    sys.stdout.flush()
    return int(info.value.code or 0), orjson.loads(capfd.readouterr().out)


def old_and_new(r: Any, n_old: int) -> int:
    now = int(time.time() * 1000)
    store(r, KS, [trade("BTCUSDT", a, now - 2 * DAY_MS + a) for a in range(n_old)])
    store(r, KS, [trade("BTCUSDT", n_old + 1, now)])
    return now


def test_prune_on_a_full_redis_runs_without_the_lock_and_says_so(
    redis_server: RedisServer, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_server.client()
    old_and_new(r, 50)
    with out_of_memory(r):
        rc, doc = prune_cli(capfd, redis_server.url)
        assert rc == 0, doc
        assert doc["totals"]["trades"] == 50
        assert "pruning without the lock" in doc["notes"][0]
        assert r.zcard(KS.trades_latest("BTCUSDT")) == 1
        assert r.get(KS.prune_lock()) is None


def test_prune_on_a_full_redis_still_stops_when_another_prune_holds_the_lock(
    redis_server: RedisServer, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_server.client()
    old_and_new(r, 5)
    other = PruneLock(r, KS.prune_lock())
    other.acquire()
    with out_of_memory(r):
        rc, doc = prune_cli(capfd, redis_server.url)
    assert rc == 75 and "another prune holds" in doc["lock_held"]
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 6


def test_a_pass_goes_in_chunks_and_the_writer_gets_in_between(redis_shared: RedisServer) -> None:
    r = redis_shared.client()
    now = old_and_new(r, 1000)
    order: list[str] = []
    report = PruneReport(now_ms=now, dry_run=False)
    policy = RetentionPolicy(trades_s=3600, chunk=100)
    steps = prune_steps(r, KS, report, policy, progress=lambda key, n: order.append("prune"))

    async def main() -> None:
        worker = RedisWorker(r)
        with trio.fail_after(20):
            async with trio.open_nursery() as n:

                async def writer() -> None:
                    while True:
                        await worker.run(order.append, "write")

                n.start_soon(writer)
                while await worker.run(next, steps, False):
                    pass
                n.cancel_scope.cancel()

    trio.run(main)
    assert report.totals["trades"] == 1000
    first, last = order.index("prune"), len(order) - 1 - order[::-1].index("prune")
    assert order[first:last].count("write") >= 9  # one turn of the writer per chunk


def test_the_in_run_retention_pass_survives_a_redis_refusing_writes(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with replica_of(redis_server) as replica:
        rr = replica.client()
        worker = RedisWorker(rr)
        cfg = types.SimpleNamespace(
            retention_s=3600.0, stream_retention_s=3600.0, prune_every_s=0.05
        )
        ing: Any = types.SimpleNamespace(cfg=cfg, redis=rr, ks=KS, worker=worker)
        fleet: Any = types.SimpleNamespace(cfg=cfg, ingesters={"spot": ing})

        async def main() -> None:
            with trio.move_on_after(0.5):
                await retention(fleet)

        with caplog.at_level(logging.INFO, logger="orders.run"):
            trio.run(main)
    assert "retention pass skipped: Redis refuses" in caplog.text
    assert "READONLY" in caplog.text


def test_the_in_run_retention_prunes_every_market_of_a_run_one_after_another(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The markets of one run share the namespace's prune lock: their passes must take
    turns, or the second market's pass always meets the first's lock and never runs."""
    r = redis_server.client()
    now = int(time.time() * 1000)
    limiter = trio.CapacityLimiter(1)  # one Redis thread for the run, as ingest/fleet.py
    cfg = types.SimpleNamespace(retention_s=3600.0, stream_retention_s=3600.0, prune_every_s=0.05)
    ingesters: dict[str, Any] = {}
    for market, prefix in (("spot", ""), ("usdm", "usdm:")):
        ks = Keyspace(market_prefix=prefix)
        store(r, ks, [trade("BTCUSDT", a, now - 2 * DAY_MS + a) for a in range(1, 2001)])
        store(r, ks, [trade("BTCUSDT", 5000, now)])
        worker = RedisWorker(r, limiter=limiter)
        ingesters[market] = types.SimpleNamespace(cfg=cfg, redis=r, ks=ks, worker=worker)
    fleet: Any = types.SimpleNamespace(cfg=cfg, ingesters=ingesters)

    async def main() -> None:
        with trio.move_on_after(1.0):
            await retention(fleet)

    with caplog.at_level(logging.INFO, logger="orders.run"):
        trio.run(main)
    assert "skipped" not in caplog.text
    for ing in ingesters.values():
        assert r.zcard(ing.ks.trades_latest("BTCUSDT")) == 1, ing.ks


class UnreachableCluster:
    """A cluster client none of whose nodes answers (what redis-py raises then)."""

    def __getattr__(self, name: str) -> Any:
        def call(*args: object, **kwargs: object) -> None:
            raise redis.exceptions.RedisClusterUnreachableError("no node of the cluster answers")

        return call


def test_a_cluster_none_of_whose_nodes_answers_is_redis_unavailable_not_a_crash() -> None:
    report = PruneReport(now_ms=DAY_MS, dry_run=False)
    with pytest.raises(RedisUnavailable, match="went away"):
        for _ in prune_steps(UnreachableCluster(), KS, report, RetentionPolicy()):  # type: ignore[arg-type]  # a fake client
            pass
