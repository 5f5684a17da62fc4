"""The Redis a command talks to: ``--redis-url``, else the embedded one (reused when it is
running; started for the command and stopped after it otherwise)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from orders_cli.redis_conn import check, connect
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.schema import check_schema


@contextlib.contextmanager
def open_redis(url: str | None, namespace: str | None = None) -> Iterator[RedisClient]:
    """A checked sync client; raises :class:`~orders_cli.errors.RedisUnavailable`. With
    ``namespace``, also :class:`~orders_cli.errors.StoreLayoutUnknown` when the store there
    has a key layout this release does not know."""
    embedded = None
    if url is None:
        from orders_cli.embedded import EmbeddedRedis

        embedded = EmbeddedRedis()
        url = embedded.start()
    client = connect(url)
    try:
        check(url, client, given=embedded is None)
        if namespace is not None:
            check_schema(client, Keyspace(namespace=namespace))
        yield client
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()
