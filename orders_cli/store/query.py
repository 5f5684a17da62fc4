"""Reading stored bars back (sync redis-py; the CLI and verify use it). Keys come only
from :class:`~orders_cli.store.keys.Keyspace`."""

from __future__ import annotations

import difflib
from typing import cast

from orders_cli.redis_types import RedisClient
from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import decode_bar, typed_current
from orders_cli.store.keys import Keyspace
from orders_cli.timeframes import TIMEFRAMES


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


def read_current(r: RedisClient, ks: Keyspace, symbol: str) -> dict[str, int | str]:
    """The ``stats:{S}:current`` hash, fields sorted (empty if absent): counts, ids and
    times as ints, decimals as the stored strings (:func:`typed_current`)."""
    raw = r.hgetall(ks.stats_current(symbol))
    return typed_current({_text(k): _text(v) for k, v in sorted(raw.items())})


def symbol_known(r: RedisClient, ks: Keyspace, symbol: str) -> bool:
    """True if any stats key of ``symbol`` exists (or it is in the symbols SET)."""
    keys = [ks.stats_current(symbol), *(ks.bars(symbol, tf) for tf in TIMEFRAMES)]
    if int(r.exists(*keys)) > 0:
        return True
    return bool(r.sismember(ks.symbols(), symbol))


def close_symbols(r: RedisClient, ks: Keyspace, symbol: str, n: int = 5) -> list[str]:
    """Stored symbols that look like ``symbol`` (difflib), best first."""
    known = sorted(_text(s) for s in r.smembers(ks.symbols()))
    matches = difflib.get_close_matches(symbol, known, n=n, cutoff=0.6)
    prefix = [s for s in known if s.startswith(symbol) and s not in matches]
    return [*matches, *prefix][:n]


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
