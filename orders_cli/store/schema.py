"""The key layout version a store holds (``Keyspace.schema()``, one per namespace).

Written by the first ``orders run`` on a namespace and checked at start by every command:
a release that does not know the layout a Redis holds refuses it with one line instead of
reading or writing keys whose meaning changed (the stream's own retention and several
markets in one run will change the layout)."""

from __future__ import annotations

from typing import cast

from orders_cli.errors import StoreLayoutUnknown
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace

SCHEMA_VERSION = 1


def check_schema(redis: RedisClient, ks: Keyspace) -> int | None:
    """The layout version the store says it has (``None``: never written, an empty store or
    one written before versions existed, which is layout 1); :class:`StoreLayoutUnknown`
    when it is not one this release knows."""
    raw = cast(bytes | None, redis.get(ks.schema()))
    if raw is None:
        return None
    text = raw.decode(errors="replace")
    if text != str(SCHEMA_VERSION):
        where = f"namespace {ks.namespace.rstrip(':')!r}" if ks.namespace else "this Redis"
        raise StoreLayoutUnknown(
            f"{where} holds orders data in store layout {text[:20]!r}; this orders knows "
            f"layout {SCHEMA_VERSION}: use the orders release that wrote it, or another "
            "--namespace or --redis-url"
        )
    return SCHEMA_VERSION


def claim_schema(redis: RedisClient, ks: Keyspace) -> None:
    """Check, then record this release's layout if the store has none yet."""
    if check_schema(redis, ks) is None:
        redis.set(ks.schema(), str(SCHEMA_VERSION), nx=True)
