"""simulator -> orders run -> a real 3-master Redis Cluster (one replica each): Redis
afterwards equals the simulator's ground truth exactly, the symbols' keys spread over every
master, and a master killed mid-run (its replica promoted without the writes it had not
received yet) loses nothing acknowledged: the run keeps going, says so, and converges."""

from __future__ import annotations

import contextlib

import orjson
import pytest
import trio

from orders_cli.ops.redis_diag import RedisDiagnosis, diagnose_redis
from orders_cli.redis_conn import INGESTER_NAME_PREFIX, ingester_name, named_ingesters
from orders_cli.sim import SimConfig
from tests.integration.harness import Run, run_until_complete, stored
from tests.redis_server import RedisServer
from tests.redis_topologies import ClusterOfServers

pytestmark = pytest.mark.integration

LATEST = "trades:{*}:latest"


def latest_keys(server: RedisServer) -> list[bytes]:
    """The ``trades:{S}:latest`` keys one node holds itself (a per-node client)."""
    with contextlib.closing(server.client()) as c:
        return list(c.scan_iter(match=LATEST, count=1000))


def stored_ids(server: RedisServer) -> dict[str, set[int]]:
    """symbol -> the trade ids ``server`` holds (what its writes acknowledged)."""
    out: dict[str, set[int]] = {}
    with contextlib.closing(server.client()) as c:
        for key in c.scan_iter(match=LATEST, count=1000):
            symbol = key.decode()[len("trades:{") : -len("}:latest")]
            out[symbol] = {int(orjson.loads(m)["agg_trade_id"]) for m in c.zrange(key, 0, -1)}
    return out


def ingester_connections(server: RedisServer) -> int:
    with contextlib.closing(server.client()) as c:
        clients = c.client_list()
    return sum(1 for x in clients if str(x.get("name", "")).startswith(INGESTER_NAME_PREFIX))


def is_primary(server: RedisServer) -> bool:
    with contextlib.closing(server.client()) as c:
        return c.info("replication")["role"] == "master"


def replica_of(cluster: ClusterOfServers, master: RedisServer) -> RedisServer:
    with contextlib.closing(master.client()) as c:
        replicas = c.info("replication")
    port = int(replicas["slave0"]["port"])
    return next(s for s in cluster.replicas if s.port == port)


async def test_a_cluster_ends_equal_to_the_truth_with_keys_on_every_master(
    redis_cluster: ClusterOfServers,
) -> None:
    named: dict[int, int] = {}
    found: list[str] = []
    diagnosis: list[RedisDiagnosis] = []  # what orders status reads

    async def look(run: Run) -> None:
        with trio.fail_after(20):
            while not run.ingester.writer or not run.ingester.writer.batches:  # noqa: ASYNC110 - polling a plain counter
                await trio.sleep(0.1)
        for server in redis_cluster.primaries():
            named[server.port] = await trio.to_thread.run_sync(ingester_connections, server)
        found.extend(await trio.to_thread.run_sync(named_ingesters, run.redis))
        diagnosis.append(await trio.to_thread.run_sync(diagnose_redis, run.redis))

    cfg = SimConfig.from_fixture(n_symbols=200, seed=21, total_rate=400.0)
    with trio.fail_after(100):
        run, diff = await run_until_complete(
            cfg, redis_cluster.url, live_s=5.0, settle_timeout=40.0, during=look
        )
    assert diff.clean, diff.summary()
    truth = run.sim.truth_by_symbol()
    assert sum(len(v) for v in truth.values()) > 1000
    per_master = {s.port: len(latest_keys(s)) for s in redis_cluster.masters}
    assert all(n > 0 for n in per_master.values()), per_master
    assert sum(per_master.values()) == sum(1 for rows in truth.values() if rows), per_master
    # every master's CLIENT LIST shows the ingester's named connections (orders status)
    assert len(named) == 3 and all(n > 0 for n in named.values()), named
    me = ingester_name(run.ingester.cfg.ingester_id)
    assert [ingester_name(i) for i in found] == [me]
    (diag,) = diagnosis
    assert len(diag.primaries) == 3
    assert all([ingester_name(i) for i in n.connected_ingesters] == [me] for n in diag.primaries)


async def test_a_master_killed_mid_run_loses_no_acknowledged_trade(
    redis_cluster: ClusterOfServers,
) -> None:
    victim = redis_cluster.masters[0]
    acknowledged: dict[str, set[int]] = {}
    after_failover: list[int] = []
    promoted: list[int] = []  # the ingester's named connections to the promoted replica

    async def kill_a_master(run: Run) -> None:
        await trio.sleep(2.5)
        # the replica misses what the master acknowledges from now on: stopped, its link
        # cut by the master (it cannot resync before the master dies: it is frozen)
        replica = replica_of(redis_cluster, victim)
        replica.pause()
        try:
            with contextlib.closing(victim.client()) as c:
                c.client_kill_filter(_type="replica")
            await trio.sleep(0.4)  # trades the writer applies on the master alone
            acknowledged.update(await trio.to_thread.run_sync(stored_ids, victim))
            victim.kill()
        finally:
            replica.resume()
        with trio.fail_after(30):
            while not await trio.to_thread.run_sync(is_primary, replica):  # noqa: ASYNC110 - polling another process
                await trio.sleep(0.1)
            await trio.to_thread.run_sync(redis_cluster.wait_ok)
        before = run.telemetry.counters["trades_stored"]
        with trio.fail_after(30):  # the run goes on through the promoted replica
            while run.telemetry.counters["trades_stored"] < before + 200:  # noqa: ASYNC110 - polling a plain counter
                await trio.sleep(0.1)
        after_failover.append(run.telemetry.counters["trades_stored"] - before)
        promoted.append(await trio.to_thread.run_sync(ingester_connections, replica))

    cfg = SimConfig.from_fixture(n_symbols=60, seed=23, total_rate=300.0)
    with trio.fail_after(110):
        run, diff = await run_until_complete(
            cfg,
            redis_cluster.url,
            live_s=12.0,
            settle_timeout=40.0,
            during=kill_a_master,
            sweep=False,  # the periodic sweep would find the lost tails minutes later
        )
    assert after_failover, "the run kept storing after the failover"
    assert promoted and promoted[0] > 0, promoted
    assert sum(map(len, acknowledged.values())) > 100, acknowledged
    for symbol, ids in acknowledged.items():  # each one present (kept, or refilled)
        now = {int(m["agg_trade_id"]) for m in stored(run.redis, symbol)}
        assert ids <= now, (symbol, sorted(ids - now)[:10])
    assert diff.clean, (diff.summary(), dict(run.telemetry.counters))
    c = run.telemetry.counters
    assert c["redis_retries"] > 0, dict(c)  # the fault was reported, not hidden
    assert c["state_rollbacks"] > 0, dict(c)  # the promoted replica lacked acknowledged writes
    assert run.telemetry.redis_state == "ok"
