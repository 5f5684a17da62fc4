"""Reading stored bars back (sync redis-py; the CLI and verify use it). Keys come only
from :class:`~orders_cli.store.keys.Keyspace`."""

from __future__ import annotations

from typing import cast

from orders_cli.redis_types import RedisClient
from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import decode_bar
from orders_cli.store.keys import Keyspace


def read_bars(r: RedisClient, ks: Keyspace, symbol: str, tf: str, last: int) -> list[Bar]:
    """The newest ``last`` bars of ``tf``, oldest first (one per window start)."""
    if last <= 0:
        return []
    rows = cast(
        list[tuple[bytes, float]],
        r.zrevrange(ks.bars(symbol, tf), 0, last - 1, withscores=True),
    )
    seen: set[int] = set()
    out: list[Bar] = []
    for member, _score in rows:
        bar = decode_bar(member)
        if bar.window_start not in seen:
            seen.add(bar.window_start)
            out.append(bar)
    out.reverse()
    return out


def read_current(r: RedisClient, ks: Keyspace, symbol: str) -> dict[str, str]:
    """The ``stats:{S}:current`` hash as ``str -> str`` (empty if absent)."""
    raw = r.hgetall(ks.stats_current(symbol))
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
