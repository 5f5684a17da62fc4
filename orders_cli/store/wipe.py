"""Deleting a whole keyspace (market + namespace): what it holds, counted by kind, and the
delete itself. Used by a run that replaces demo data (``store/origin.py``) and by
``orders reset``; both show the counts before anything is deleted."""

from __future__ import annotations

import attrs

from orders_cli.errors import KeyspaceInUse
from orders_cli.hints import command
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace


@attrs.frozen(slots=True)
class KeyCounts:
    """How many keys of each kind (``Keyspace.data_patterns``) a keyspace holds."""

    by_kind: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def describe(self) -> str:
        """``3,062 keys (1,212 trades, 1,515 stats, ...)``; kinds with none left out."""
        parts = ", ".join(f"{n:,} {kind}" for kind, n in self.by_kind.items() if n)
        return f"{self.total:,} key{'' if self.total == 1 else 's'}" + (
            f" ({parts})" if parts else ""
        )


def count_keys(redis: RedisClient, ks: Keyspace, chunk: int = 500) -> KeyCounts:
    return KeyCounts(
        {
            kind: sum(1 for _ in redis.scan_iter(match=pattern, count=chunk))
            for kind, pattern in ks.data_patterns().items()
        }
    )


def other_ingesters(redis: RedisClient, ks: Keyspace, me: str | None) -> list[str]:
    """Health keys of live ingesters of this namespace other than ``me``."""
    mine = ks.health(me).encode() if me is not None else None
    keys = redis.scan_iter(match=ks.health_pattern(), count=500)
    return sorted(k.decode(errors="replace") for k in keys if k != mine)


def ensure_alone(redis: RedisClient, ks: Keyspace, me: str | None, what: str) -> None:
    """:class:`KeyspaceInUse` when another ingester reports health here: it would be
    writing into what we delete."""
    others = other_ingesters(redis, ks, me)
    if others:
        raise KeyspaceInUse(
            f"{what} is in use by {len(others)} other running ingester(s) "
            f"({', '.join(others[:3])}): stop it first (`{command('status')}` lists them; a "
            "crashed one's key expires within seconds), or use another --namespace or "
            "--redis-url"
        )


def wipe(redis: RedisClient, ks: Keyspace, chunk: int = 500) -> int:
    """Delete every key of the keyspace (market + namespace), in small chunks."""
    deleted = 0
    for pattern in ks.data_patterns().values():
        batch: list[bytes] = []
        for key in redis.scan_iter(match=pattern, count=chunk):
            batch.append(key)
            if len(batch) >= chunk:
                deleted += redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += redis.unlink(*batch)
    return deleted
