"""Make a real (private) redis-server refuse writes the ways production ones do:
out of memory (``maxmemory`` + ``noeviction``), a replica (READONLY), failing persistence
(MISCONF). Each is a context manager that undoes the fault on exit."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import trio

from tests.redis_server import RedisServer


@contextlib.contextmanager
def out_of_memory(r: Any) -> Iterator[None]:
    """Every write that may grow memory answers ``OOM`` (deletes still go through)."""
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", "1")
    try:
        yield
    finally:
        r.config_set("maxmemory", "0")


@contextlib.contextmanager
def failing_persistence(server: RedisServer, r: Any) -> Iterator[None]:
    """A BGSAVE that fails (its dir is gone: works as root too, where a read-only dir
    does not) with ``stop-writes-on-bgsave-error yes``: writes answer ``MISCONF``."""
    r.config_set("save", "3600 1")  # stop-writes-on-bgsave-error needs a save point
    r.config_set("stop-writes-on-bgsave-error", "yes")
    shutil.rmtree(server.dir)
    r.bgsave()
    deadline = time.monotonic() + 10
    while r.info("persistence")["rdb_last_bgsave_status"] != "err":
        assert time.monotonic() < deadline, "BGSAVE did not fail"
        time.sleep(0.02)
    try:
        yield
    finally:
        r.config_set("stop-writes-on-bgsave-error", "no")
        r.config_set("save", "")  # else a shutdown tries to save into the missing dir


@contextlib.contextmanager
def replica_of(master: RedisServer) -> Iterator[RedisServer]:
    """A second redis-server replicating ``master``: writes to it answer ``READONLY``."""
    with RedisServer() as replica:
        client = replica.client()
        with contextlib.closing(client):
            client.replicaof("127.0.0.1", master.port)
        yield replica


async def until(predicate: Callable[[], bool], step_s: float = 0.02) -> None:
    """Poll ``predicate`` (state in Redis or a plain counter: no event to wait on); the
    caller bounds it with ``trio.fail_after``."""
    while not predicate():  # noqa: ASYNC110 - Redis state and plain counters have no events
        await trio.sleep(step_s)
