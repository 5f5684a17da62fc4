"""The pytest fixtures of the real multi-process Redis topologies (registered in
conftest.py): ``redis_cluster`` and ``redis_sentinel``. ``ClusterOfServers`` and
``SentinelSet`` live in localredis/topologies.py, which the benchmarks use too; they are
re-exported here for the tests that import them from this module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localredis.topologies import (
    MASTER_NAME,
    NODE_TIMEOUT_MS,
    SLOTS,
    ClusterOfServers,
    SentinelSet,
)

__all__ = [
    "MASTER_NAME",
    "NODE_TIMEOUT_MS",
    "SLOTS",
    "ClusterOfServers",
    "SentinelSet",
    "redis_cluster",
    "redis_sentinel",
]


@pytest.fixture
def redis_cluster() -> Iterator[ClusterOfServers]:
    """A fresh 3-master Redis Cluster with one replica each (free to kill a master)."""
    with ClusterOfServers() as cluster:
        yield cluster


@pytest.fixture
def redis_sentinel() -> Iterator[SentinelSet]:
    """A fresh primary + replica under one sentinel (free to kill the primary)."""
    with SentinelSet() as sentinels:
        yield sentinels


@pytest.fixture(scope="session")
def redis_cluster_session() -> Iterator[ClusterOfServers]:
    with ClusterOfServers() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_shared(redis_cluster_session: ClusterOfServers) -> ClusterOfServers:
    """The session's Redis Cluster, every primary emptied (FLUSHALL) before the test. Faster
    than ``redis_cluster``; do not kill, pause or reconfigure its nodes (a test that changes
    a node's config undoes it)."""
    for server in redis_cluster_session.primaries():
        with server.client() as client:
            client.flushall()
    return redis_cluster_session
