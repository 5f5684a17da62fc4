"""The writer's round (store/packed.py's routed path) on a real 3-master Redis Cluster
while the cluster changes under it: a slot moved to another master (MOVED: the slot map is
refreshed and the command sent again), a slot being migrated (ASK: followed once), a
primary that lost its scripts (NOSCRIPT: loaded again, only its symbols retried), a master
killed before its replica had its last applies (a reload finds the older revisions and
re-gaps), and a cluster no node of which answers (retried, never an unknown error)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import redis

from orders_cli.errors import RedisUnavailable
from orders_cli.messages import GapRequest
from orders_cli.redis_conn import connect
from orders_cli.store.processor import Processor
from orders_cli.store.worker import RedisWorker
from tests.redis_server import RedisServer
from tests.redis_topologies import ClusterOfServers
from tests.store.test_processor import KS, Clock, make, trade

pytestmark = pytest.mark.integration

T = TypeVar("T")
SYMBOLS = [f"S{i}USDT" for i in range(40)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterOfServers]:
    """One cluster for the tests that move slots but kill nothing."""
    with ClusterOfServers() as c:
        yield c


@pytest.fixture
def client(cluster: ClusterOfServers) -> Iterator[redis.RedisCluster]:
    for server in cluster.primaries():
        with contextlib.closing(server.client()) as c:
            c.flushall()
    c = connect(cluster.url)
    assert isinstance(c, redis.RedisCluster)
    yield c
    c.close()


def node_id(server: RedisServer) -> str:
    with contextlib.closing(server.client()) as c:
        return str(c.execute_command("CLUSTER", "MYID").decode())


def slot_of(server: RedisServer, key: str) -> int:
    with contextlib.closing(server.client()) as c:
        return int(c.execute_command("CLUSTER", "KEYSLOT", key))


def on(cluster: ClusterOfServers, server: RedisServer, n: int) -> list[str]:
    """``n`` symbols whose keys ``server`` serves now."""
    out = [s for s in SYMBOLS if cluster.master_of(KS.state(s)) is server]
    assert len(out) >= n, (server.port, out)
    return out[:n]


def start_migration(src: RedisServer, dst: RedisServer, slot: int) -> None:
    """Mark ``slot`` moving from ``src`` to ``dst`` and move every key of it."""
    with contextlib.closing(src.client()) as s, contextlib.closing(dst.client()) as d:
        d.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(src))
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(dst))
        keys = s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
        assert keys
        s.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys)


def end_migration(cluster: ClusterOfServers, dst: RedisServer, slot: int) -> None:
    """``dst`` owns ``slot`` now, on every primary (as ``redis-cli --cluster`` does), and
    every node says so (a slot map may be read from any of them)."""
    owner = node_id(dst)
    for server in sorted(cluster.primaries(), key=lambda s: s is not dst):
        with contextlib.closing(server.client()) as c:
            c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", owner)
    deadline = time.monotonic() + 10
    while not all(owner_port(server, slot) == dst.port for server in cluster.servers):
        assert time.monotonic() < deadline, "the nodes never agreed on the slot's owner"
        time.sleep(0.05)


def owner_port(server: RedisServer, slot: int) -> int:
    with contextlib.closing(server.client()) as c:
        shards = c.execute_command("CLUSTER", "SLOTS")
    return next(int(p[1]) for start, end, p, *_ in shards if int(start) <= slot <= int(end))


def errors(server: RedisServer, code: str) -> int:
    """How many ``code`` error replies ``server`` has sent (INFO errorstats)."""
    with contextlib.closing(server.client()) as c:
        stat = c.info("errorstats").get(f"errorstat_{code}")
    return int(stat["count"]) if stat else 0


def ids(server: RedisServer, symbol: str, asking: bool = False) -> tuple[list[int], list[int]]:
    """(the ids in ``symbol``'s sorted set, in its stream), read on ``server`` itself
    (``asking``: a slot it imports)."""
    with contextlib.closing(server.client(single_connection_client=True)) as c:
        if asking:
            c.execute_command("ASKING")
        latest = c.zrange(KS.trades_latest(symbol), 0, -1)
        if asking:
            c.execute_command("ASKING")
        stream = c.xrange(KS.trades_stream(symbol))
    zset = [int(m.split(b'"agg_trade_id":"')[1].split(b'"')[0]) for m in latest]
    return zset, [int(f[b"a"]) for _, f in stream]


def test_a_slot_moved_to_another_master_is_followed_and_the_round_applies_exactly(
    cluster: ClusterOfServers, client: redis.RedisCluster
) -> None:
    src, dst = cluster.primaries()[:2]
    (sym,) = on(cluster, src, 1)
    key = KS.state(sym)
    slot = slot_of(src, key)
    p = make(client, Clock())
    p.process([trade(a, sym=sym) for a in range(1, 6)])
    start_migration(src, dst, slot)
    end_migration(cluster, dst, slot)
    assert client.get_node_from_key(key).port == src.port  # the client's map is stale
    moved = errors(src, "MOVED")
    out = p.process([trade(a, sym=sym) for a in range(6, 11)])
    assert errors(src, "MOVED") == moved + 1  # one redirect, followed in the same round
    assert out.counters["trades_stored"] == 5 and out.counters["conflicts"] == 0
    assert ids(dst, sym) == (list(range(1, 11)), list(range(1, 11)))
    assert client.get_node_from_key(key).port == dst.port  # the map was refreshed
    assert int(client.hget(key, "watermark")) == 10


def test_an_ask_during_a_migration_is_followed_once_and_the_round_applies_exactly(
    cluster: ClusterOfServers, client: redis.RedisCluster
) -> None:
    src, dst = cluster.primaries()[:2]
    (sym,) = on(cluster, src, 1)
    key = KS.state(sym)
    slot = slot_of(src, key)
    p = make(client, Clock())
    p.process([trade(a, sym=sym) for a in range(1, 6)])
    # the target accepts an ASKING multi-key command only if it holds every key
    assert client.exists(*KS.symbol_keys(sym)) == len(KS.symbol_keys(sym))
    start_migration(src, dst, slot)
    asked = errors(src, "ASK")
    out = p.process([trade(a, sym=sym) for a in range(6, 11)])
    assert errors(src, "ASK") == asked + 1
    assert out.counters["trades_stored"] == 5 and out.counters["conflicts"] == 0
    assert ids(dst, sym, asking=True) == (list(range(1, 11)), list(range(1, 11)))
    assert client.get_node_from_key(key).port == src.port  # ASK is for one command only
    end_migration(cluster, dst, slot)
    out = p.process([trade(a, sym=sym) for a in range(11, 13)])
    assert out.counters["trades_stored"] == 2
    assert ids(dst, sym) == (list(range(1, 13)), list(range(1, 13)))


def test_a_primary_that_lost_its_scripts_gets_them_again_and_only_its_symbols_retry(
    cluster: ClusterOfServers, client: redis.RedisCluster
) -> None:
    primaries = cluster.primaries()
    symbols = {server.port: on(cluster, server, 2) for server in primaries}
    everyone = [s for group in symbols.values() for s in group]
    p = make(client, Clock())
    p.process([trade(1, sym=s) for s in everyone])
    victim = primaries[1]
    with contextlib.closing(victim.client()) as c:
        c.script_flush()
    noscript = errors(victim, "NOSCRIPT")
    out = p.process([trade(2, sym=s) for s in everyone])
    assert errors(victim, "NOSCRIPT") == noscript + 2
    assert out.counters["conflicts"] == 2  # the victim's two symbols, the others applied
    assert out.counters["trades_stored"] == len(everyone)
    for server in primaries:
        for s in symbols[server.port]:
            assert ids(server, s) == ([1, 2], [1, 2]), s


def until(what: str, fn: Callable[[], T], timeout: float = 30.0) -> T:
    """``fn()`` again until it stops raising RedisUnavailable (the cluster fails over)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except RedisUnavailable:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}") from None
            time.sleep(0.1)


def replica_of(cluster: ClusterOfServers, master: RedisServer) -> RedisServer:
    with contextlib.closing(master.client()) as c:
        port = int(c.info("replication")["slave0"]["port"])
    return next(s for s in cluster.replicas if s.port == port)


def test_a_failover_that_lost_acknowledged_applies_is_reloaded_and_regapped(
    redis_cluster: ClusterOfServers,
) -> None:
    victim = redis_cluster.masters[0]
    lost = on(redis_cluster, victim, 2)
    kept = on(redis_cluster, redis_cluster.masters[1], 1)
    client = connect(redis_cluster.url)
    clock = Clock()
    p = make(client, clock)
    p.process([trade(a, sym=s) for s in [*lost, *kept] for a in (1, 2, 3)])
    replica = replica_of(redis_cluster, victim)
    replica.pause()  # frozen, its link cut: it never gets what the victim applies next
    try:
        with contextlib.closing(victim.client()) as c:
            c.client_kill_filter(_type="replica")
        out = p.process([trade(a, sym=s) for s in [*lost, *kept] for a in (4, 5, 6)])
        assert out.counters["trades_stored"] == 9  # acknowledged, by the victim too
        victim.kill()
    finally:
        replica.resume()
    batch = [trade(7, sym=s) for s in [*lost, *kept]]
    with pytest.raises(RedisUnavailable):
        p.process(batch)
    out = until("the replica's promotion", lambda: p.process(batch))
    assert sorted(out.rolled_back) == sorted(lost)
    assert out.counters["state_rollbacks"] == 2
    clock.mono += 1.0  # trade 7 waited for 4..6 to come in order: they will not
    out = p.process([])
    assert sorted(out.gap_requests, key=lambda g: g.symbol) == sorted(
        (GapRequest(s, 4, 6, priority=0) for s in lost), key=lambda g: g.symbol
    )
    for s in lost:  # what the promoted replica holds, waiting for REST to fill 4..6
        assert ids(replica, s) == ([1, 2, 3, 7], [1, 2, 3, 7])
    assert ids(redis_cluster.masters[1], kept[0]) == (list(range(1, 8)), list(range(1, 8)))
    client.close()


async def test_a_cluster_that_no_node_answers_is_unavailable_not_an_unknown_error(
    redis_cluster: ClusterOfServers,
) -> None:
    client = connect(redis_cluster.url)
    p: Processor = make(client, Clock())
    worker = RedisWorker(client)
    await worker.run(p.process, [trade(1)])
    for server in redis_cluster.servers:
        server.kill()
    with pytest.raises(RedisUnavailable):  # the writer's round
        await worker.run(p.process, [trade(2)])
    with pytest.raises(RedisUnavailable):  # any other command of the run
        await worker.call(lambda r: r.set("orders:health:x", b"{}", ex=5))
    client.close()
