"""The Redis a bench writes to: one private redis-server (``distro`` / ``embedded``), or a
private Redis Cluster (``cluster``: 3 masters on free ports, ``replicas`` replicas each,
the redis-server on PATH), and the figures read from it.

Counting (ZCARD, XLEN, the health record) goes through ``client``: a ``redis.Redis`` on
one server, a ``redis.RedisCluster`` (every key to the primary of its slot) on a cluster.
Server-side figures (``used_memory``, ``cmdstat_evalsha``, MEMORY USAGE per key class)
are per node: summed over the primaries, each node's kept in :meth:`RedisTarget.nodes_report`.

The cluster is localredis.topologies.ClusterOfServers, the one the tests start: localredis/
sits at the repository root (not installed), so it is put on ``sys.path`` here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from benchlib import (
    ROOT,
    evalsha_calls,
    member_counts,
    memory_breakdown,
    redis_binary,
    redis_server,
    used_memory,
)
from probe import LatencyProbe
from redis.cluster import ClusterNode

CLUSTER_MASTERS = 3
CLUSTER_NODE_TIMEOUT_MS = 15_000
"""Redis's default: a node a busy 2-core box leaves unanswered for a second must not be
failed over mid-measurement (the tests' 1 s timeout is for their failovers)."""


@dataclass(frozen=True)
class Node:
    """One redis-server process: ``name`` is ``redis`` for the single server, else
    ``primary:PORT`` / ``replica:PORT``."""

    name: str
    pid: int
    client: redis.Redis
    primary: bool


@dataclass(frozen=True)
class RedisTarget:
    kind: str  # distro | embedded | cluster
    url: str  # what `orders run --redis-url` gets
    client: Any  # redis.Redis | redis.RedisCluster
    nodes: list[Node]

    @property
    def cluster(self) -> bool:
        return self.kind == "cluster"

    @property
    def primaries(self) -> list[Node]:
        return [n for n in self.nodes if n.primary]

    def version(self) -> str:
        return str(self.nodes[0].client.info("server")["redis_version"])

    def used_memory(self) -> int:
        return sum(used_memory(n.client) for n in self.primaries)

    def evalsha_calls(self) -> int:
        return sum(evalsha_calls(n.client) for n in self.primaries)

    def memory_breakdown(self) -> dict[str, int]:
        return _summed(memory_breakdown(n.client) for n in self.primaries)

    def member_counts(self) -> dict[str, int]:
        return _summed(member_counts(n.client) for n in self.primaries)

    def probe(self, symbols: Sequence[str], per_symbol: bool = False) -> LatencyProbe:
        """The latency probe: per symbol on a cluster (an XREAD cannot span slots)."""
        if self.cluster:
            return LatencyProbe.cluster(self.client, symbols)
        return LatencyProbe.single(self.url, symbols, per_symbol)

    def node_counters(self) -> dict[str, dict[str, int]]:
        """Per node: used_memory, EVALSHA calls so far, keys (DBSIZE)."""
        return {
            n.name: {
                "used_memory": used_memory(n.client),
                "evalsha_calls": evalsha_calls(n.client),
                "keys": int(n.client.dbsize()),
            }
            for n in self.nodes
        }


def _summed(parts: Iterator[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


@contextlib.contextmanager
def redis_target(kind: str, replicas: int = 0) -> Iterator[RedisTarget]:
    """Start the Redis of ``kind``; stop it (every node) on exit. ``replicas``: per
    cluster master."""
    if kind != "cluster":
        with redis_server(kind) as (url, proc):
            r = redis.Redis.from_url(url, socket_timeout=30)
            yield RedisTarget(kind, url, r, [Node("redis", proc.pid, r, True)])
        return
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # localredis/ is at the repository root, not installed
    from localredis.topologies import ClusterOfServers

    cluster = ClusterOfServers(
        masters=CLUSTER_MASTERS,
        replicas=replicas,
        binary=redis_binary("distro"),
        node_timeout_ms=CLUSTER_NODE_TIMEOUT_MS,
    )
    with cluster:
        nodes = [
            Node(f"{role}:{s.port}", s.pid, s.client(socket_timeout=30), role == "primary")
            for role, servers in (("primary", cluster.masters), ("replica", cluster.replicas))
            for s in servers
        ]
        rc = redis.RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", s.port) for s in cluster.servers],
            socket_timeout=30,
        )
        try:
            yield RedisTarget("cluster", cluster.url, rc, nodes)
        finally:
            rc.close()
