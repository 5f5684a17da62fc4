"""Shared setup of the tests that run the commands spanning symbols against a real Redis
Cluster (``redis_cluster_shared``) and the same commands on one redis-server
(``redis_shared``) holding the same trades, written by the store's own writer."""

from __future__ import annotations

from typing import Any

import pytest

from orders_cli.messages import Backfilled
from orders_cli.models import Trade
from orders_cli.redis_conn import connect
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.timeframes import TIMEFRAMES
from tests.ops.helpers import run_main, trade
from tests.redis_topologies import ClusterOfServers

KS = Keyspace()
SYMBOLS = ("BTCUSDT", "ETHUSDT", "DOGEUSDT", "SOLUSDT", "BNBUSDT")
"""Their keys' slots are on each of the three primaries (:func:`assert_spread`)."""
MINUTE_MS = 60_000


def assert_spread(cluster: ClusterOfServers, keys: list[str]) -> None:
    """``keys`` are served by every primary of ``cluster``, not one."""
    owners = {cluster.master_of(k).port for k in keys}
    assert owners == {s.port for s in cluster.primaries()}, owners


def fill(r: RedisClient, now_ms: int, per_symbol: int = 40, ks: Keyspace = KS) -> list[Trade]:
    """``per_symbol`` trades of each of :data:`SYMBOLS`, one a minute up to half a minute
    before ``now_ms`` (a ``--since`` of whole minutes never cuts at a trade), through the
    writer (a REST backfill): trades, stream, bars, state, symbol set."""
    trades = [
        trade(s, a, now_ms - MINUTE_MS * (per_symbol - a) - MINUTE_MS // 2 - 7 * k)
        for k, s in enumerate(SYMBOLS)
        for a in range(1, per_symbol + 1)
    ]
    proc = Processor(r, ks, PlanConfig(first_agg_id=1, cold_start=False))
    batches = [Backfilled(s, tuple(t for t in trades if t.symbol == s)) for s in SYMBOLS]
    out = proc.process(batches, flush=True)
    assert out.counters["trades_stored"] == len(trades)
    return trades


def dump(r: RedisClient, symbols: tuple[str, ...] = SYMBOLS, ks: Keyspace = KS) -> dict[str, Any]:
    """Every data key of ``symbols``, comparable between a cluster and one server."""
    out: dict[str, Any] = {}
    for s in symbols:
        out[f"{s} latest"] = r.zrange(ks.trades_latest(s), 0, -1, withscores=True)
        out[f"{s} stream"] = r.xrange(ks.trades_stream(s))
        for tf in TIMEFRAMES:
            out[f"{s} {tf}"] = r.zrange(ks.bars(s, tf), 0, -1, withscores=True)
        state = r.hgetall(ks.state(s))
        out[f"{s} state"] = {k: v for k, v in state.items() if k != b"updated_at"}
    return out


class Both:
    """The same ``orders`` command on the cluster and on the single server."""

    def __init__(self, cluster: ClusterOfServers, single: Any) -> None:
        self.cluster = cluster
        self.single = single
        self.rc: RedisClient = connect(cluster.url)
        self.r1: RedisClient = single.client()

    def run(self, capfd: pytest.CaptureFixture[str], *args: str) -> tuple[Any, Any]:
        """``(rc, stdout, stderr)`` on the cluster, then on the single server."""
        on_cluster = run_main(capfd, *args, "--redis-url", self.cluster.url)
        on_single = run_main(capfd, *args, "--redis-url", self.single.url)
        return on_cluster, on_single

    def close(self) -> None:
        self.rc.close()
        self.r1.close()
