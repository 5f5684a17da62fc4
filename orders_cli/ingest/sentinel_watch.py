"""Following the primary of a ``redis+sentinel://`` run: every ``every_s`` the run asks the
sentinels which server is the primary (in the Redis thread, between the writer's batches).

redis-py's connections ask only when they connect. After a failover that kept the former
primary up (``SENTINEL FAILOVER``, a partition that healed) it stays writable until the
sentinels demote it, seconds later, and what it takes meanwhile is discarded when it
resyncs: asking moves the writes to the new primary at once (store/processor.py reloads
the states it holds at older revisions and the backfill refills them from REST).

The log says where the writes go, and again after every failover; the telemetry
(``redis_primary``) carries it to the health record that ``orders status`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

import trio

from orders_cli.errors import OrdersError
from orders_cli.redis_conn import sentinel_primary
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry

log = logging.getLogger("orders.redis")
FOLLOW_EVERY_S = 1.0


async def follow_primary(
    worker: RedisWorker, telemetries: Sequence[Telemetry], every_s: float = FOLLOW_EVERY_S
) -> None:
    """Ask the sentinels every ``every_s`` until cancelled; log each primary once."""
    known: str | None = None
    while True:
        try:
            primary = await worker.call(partial(sentinel_primary, ask=True))
        except OrdersError:  # no sentinel answers: the writer shows Redis retrying
            primary = None
        if primary is not None and primary != known:
            if known is None:
                log.info("Redis Sentinel: writing to the primary %s", primary)
            else:
                log.warning(
                    "Redis Sentinel failover: writing to the primary %s now (was %s); "
                    "what it lacks of the acknowledged writes is reloaded and refilled "
                    "from REST",
                    primary,
                    known,
                )
            known = primary
            for t in telemetries:
                t.redis_primary = primary
        await trio.sleep(every_s)
