"""An ingester's connections to a Redis Cluster carry its name on every node (``orders
status`` finds it in CLIENT LIST): the nodes known when it names them, after they drop the
connections, and a node that becomes a primary only later."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
import redis

from orders_cli.errors import RedisUnavailable
from orders_cli.redis_conn import (
    check,
    connect,
    ingester_name,
    memory,
    name_connections,
    named_ingesters,
    primaries,
)
from tests.redis_server import RedisServer, free_port
from tests.redis_topologies import NODE_TIMEOUT_MS, ClusterOfServers

pytestmark = pytest.mark.integration

NAME = ingester_name("host 7")
CLUSTER_ARGS = (
    "--cluster-enabled", "yes",
    "--cluster-config-file", "nodes.conf",
    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
)  # fmt: skip


def names(server: RedisServer) -> list[str]:
    with contextlib.closing(server.client()) as c:
        return [str(x.get("name", "")) for x in c.client_list()]


def owner(server: RedisServer, key: str) -> int:
    """The port of the primary ``server`` says serves ``key``."""
    with contextlib.closing(server.client()) as c:
        slot = int(c.execute_command("CLUSTER", "KEYSLOT", key))
        shards = c.execute_command("CLUSTER", "SLOTS")
    return next(int(p[1]) for start, end, p, *_ in shards if int(start) <= slot <= int(end))


def key_on(cluster: ClusterOfServers, server: RedisServer) -> str:
    return next(f"k{{{i}}}" for i in range(10_000) if cluster.master_of(f"k{{{i}}}") is server)


def replication(c: redis.Redis, field: str) -> object:
    return c.info("replication").get(field)


def until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling processes we started, with a deadline


def test_every_primary_of_a_cluster_sees_the_ingesters_name_also_after_a_reconnect(
    redis_cluster: ClusterOfServers,
) -> None:
    ingester = connect(redis_cluster.url)
    keys = [key_on(redis_cluster, s) for s in redis_cluster.masters]
    for key in keys:
        ingester.set(key, 1)  # connections opened before the name was given
    name_connections(ingester, NAME)
    for server in redis_cluster.masters:
        assert NAME in names(server), server.port
    admin = connect(redis_cluster.url)
    assert named_ingesters(admin) == ["host_7"]
    for server in redis_cluster.masters:  # every client but this one, on every primary
        with contextlib.closing(server.client()) as c:
            c.client_kill_filter(_type="normal", skipme=True)
    for key in keys:
        with contextlib.suppress(redis.ConnectionError):
            ingester.get(key)  # the dropped connection may fail once
        assert ingester.get(key) == b"1"
    for server in redis_cluster.masters:
        assert NAME in names(server), server.port
    ingester.close()
    admin.close()


def test_a_node_that_joins_and_becomes_a_primary_later_gets_named_connections(
    redis_cluster: ClusterOfServers,
) -> None:
    ingester = connect(redis_cluster.url)
    name_connections(ingester, NAME)
    masters = redis_cluster.masters
    key = key_on(redis_cluster, masters[1])
    ingester.set(key, 1)
    bus = free_port()
    with RedisServer(extra_args=(*CLUSTER_ARGS, "--cluster-port", str(bus))) as late:
        with contextlib.closing(masters[1].client()) as c:
            master_id = c.execute_command("CLUSTER", "MYID").decode()
            c.execute_command("CLUSTER", "MEET", "127.0.0.1", late.port, bus)
        with contextlib.closing(late.client()) as c:
            until("the new node to meet", lambda: master_id in str(c.cluster("NODES")))
            c.execute_command("CLUSTER", "REPLICATE", master_id)
            until("the new replica in sync", lambda: replication(c, "master_link_status") == "up")
            c.execute_command("CLUSTER", "FAILOVER")
            until("the new node's promotion", lambda: replication(c, "role") == "master")
        until("every node to know", lambda: all(owner(s, key) == late.port for s in masters))
        assert ingester.get(key) == b"1"  # MOVED: the ingester finds the new primary
        assert NAME in names(late)
    ingester.close()


def test_no_sentinel_answering_is_one_line_naming_the_sentinels_and_the_primary() -> None:
    port = free_port()  # nothing listens there
    url = f"redis+sentinel://:hunter2@127.0.0.1:{port}/ordersprimary/0"
    with pytest.raises(RedisUnavailable) as caught:
        check(url)
    message = str(caught.value)
    assert (
        f"no sentinel (127.0.0.1:{port}) answered with a primary named 'ordersprimary'" in message
    )
    assert "hunter2" not in message
    assert "<redis." not in message  # not redis-py's client repr


def test_the_memory_of_a_cluster_is_every_primarys_together(
    redis_cluster_shared: ClusterOfServers,
) -> None:
    client = connect(redis_cluster_shared.url)
    nodes = primaries(client)
    try:
        assert len(nodes) == 3
        for i, (_, server) in enumerate(nodes):
            server.config_set("maxmemory", str((i + 1) * 100 * 1024 * 1024))
        used, limit, policy = memory(client)
        each = [int(server.info("memory")["used_memory"]) for _, server in nodes]
        assert used > max(each)  # not one node's figure
        assert limit == 600 * 1024 * 1024
        assert policy == "noeviction"
        nodes[1][1].config_set("maxmemory", "0")  # one primary without a limit: no limit
        assert memory(client)[1] == 0
    finally:
        for _, server in nodes:
            server.config_set("maxmemory", "0")
        client.close()
