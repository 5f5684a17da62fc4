"""localredis.topologies.ClusterOfServers as the benchmark starts it: masters only, the
binary and the node timeout it is given."""

from __future__ import annotations

import pytest

from localredis.server import RedisServer
from localredis.topologies import SLOTS, ClusterOfServers
from orders_cli.embedded import find_redis_server

pytestmark = pytest.mark.integration


def _config(server: RedisServer, name: str) -> str:
    with server.client() as c:
        return str(c.config_get(name)[name])


def test_a_cluster_without_replicas_serves_every_slot_from_its_masters() -> None:
    binary = find_redis_server()
    with ClusterOfServers(masters=3, replicas=0, binary=binary, node_timeout_ms=15000) as cluster:
        assert cluster.replicas == []
        assert {s.port for s in cluster.primaries()} == {s.port for s in cluster.masters}
        assert all(s.binary == binary for s in cluster.servers)
        assert {_config(s, "cluster-node-timeout") for s in cluster.servers} == {"15000"}
        with cluster.masters[0].client() as c:
            info = c.execute_command("CLUSTER", "INFO").decode()
        assert f"cluster_slots_ok:{SLOTS}" in info
        assert "cluster_known_nodes:3" in info
        # each master serves a third of the slots: keys of different symbols spread out
        owners = {cluster.master_of("trades:{" + s + "}:latest").port for s in "ABCDEFGHIJ"}
        assert len(owners) == 3
