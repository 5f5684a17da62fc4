"""The Redis a command talks to: ``--redis-url``, else the embedded one (reused when it is
running; started for the command and stopped after it otherwise)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis

from orders_cli.redis_conn import check, connect


@contextlib.contextmanager
def open_redis(url: str | None) -> Iterator[redis.Redis]:
    """A checked sync client; raises :class:`~orders_cli.errors.RedisUnavailable`."""
    embedded = None
    if url is None:
        from orders_cli.embedded import EmbeddedRedis

        embedded = EmbeddedRedis()
        url = embedded.start()
    client = connect(url)
    try:
        check(url, client)
        yield client
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()
