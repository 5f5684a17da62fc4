"""Keep the simulator's demo data and real exchange data apart in one Redis.

The simulator restarts its ids at every run, so its trades of a previous run would make
every new one look like a duplicate (and mixing them with real trades would be worse).
``orders run --simulate`` therefore claims the keyspace for the simulator and clears the
previous simulation's data; a real run clears demo data; neither touches data it did not
mark as the simulator's.
"""

from __future__ import annotations

import logging
from typing import Any

from orders_cli.errors import UsageError
from orders_cli.store.keys import Keyspace

log = logging.getLogger("orders.origin")

SIMULATOR = "simulator"
EXCHANGE = "exchange"


def wipe(redis: Any, ks: Keyspace, chunk: int = 500) -> int:
    """Delete every key of the keyspace (market + namespace), in small chunks."""
    deleted = 0
    for pattern in ks.data_patterns():
        batch: list[bytes] = []
        for key in redis.scan_iter(match=pattern, count=chunk):
            batch.append(key)
            if len(batch) >= chunk:
                deleted += redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += redis.unlink(*batch)
    return deleted


def claim(redis: Any, ks: Keyspace, origin: str) -> None:
    """Mark the keyspace as filled by ``origin``, clearing simulator data first."""
    raw = redis.get(ks.origin())
    current = raw.decode() if raw is not None else None
    if origin == SIMULATOR:
        if current == SIMULATOR:
            n = wipe(redis, ks)
            log.info("cleared the previous simulation's data (%d keys)", n)
        elif redis.scard(ks.symbols()):  # real (or unmarked) data: never ours to clear
            raise UsageError(
                "this Redis already holds exchange data: run the demo on another "
                "--redis-url or with --namespace demo"
            )
    elif current == SIMULATOR:
        n = wipe(redis, ks)
        log.warning("removed the simulator's demo data from this Redis (%d keys)", n)
    redis.set(ks.origin(), origin)
