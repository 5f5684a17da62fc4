"""The private redis-server fixtures (registered in conftest.py): ``redis_server`` (fresh
per test), ``redis_url``, ``redis_shared`` (one session server, FLUSHALL before each test;
do not pause/kill it). ``RedisServer`` itself lives in localredis/server.py, which the
benchmarks use too; it is re-exported here for the tests that import it from this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from localredis.server import RedisServer, free_port

__all__ = [
    "RedisServer",
    "free_port",
    "redis_server",
    "redis_session_server",
    "redis_shared",
    "redis_url",
]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh private redis-server for this test (free to pause / kill)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def redis_session_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_shared(redis_session_server: RedisServer) -> Iterator[RedisServer]:
    """The session's redis-server, emptied (FLUSHALL) before the test. Faster than
    ``redis_server``; do not pause, kill or reconfigure it."""
    client = redis_session_server.client()
    with contextlib.closing(client):
        client.flushall()
    yield redis_session_server
