"""Reading stored bars back (sync redis-py; the CLI and verify use it). Keys come only
from :class:`~orders_cli.store.keys.Keyspace`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from orders_cli.models import Trade
from orders_cli.redis_types import RedisClient
from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import decode_bar, typed_current
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member


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


def zset_members(
    r: RedisClient, key: str, lo: float, hi: float | str = "+inf", *, chunk: int = 5000
) -> Iterator[tuple[bytes, float]]:
    """Members with ``lo <= score <= hi`` and their scores, in (score, member) order, read
    ``chunk`` at a time (a score cursor plus an offset over members that share the
    boundary score, so ties split across pages are neither skipped nor repeated)."""
    start: float = lo
    skip = 0
    while True:
        rows = cast(
            list[tuple[bytes, float]],
            r.zrangebyscore(key, start, hi, start=skip, num=chunk, withscores=True),
        )
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1][1]
        same = sum(1 for _, s in rows if s == last)
        skip = same + (skip if last == start else 0)
        start = last


Entry = tuple[bytes, dict[bytes, bytes]]


def stream_entries(
    r: RedisClient, key: str, lo: str, hi: str = "+", *, chunk: int = 5000
) -> Iterator[Entry]:
    """Stream entries with ``lo <= id <= hi`` (XRANGE ids, ``-``/``+`` allowed), in id
    order, ``chunk`` at a time (each page goes on after the last id read)."""
    while True:
        rows = cast(list[Entry], r.xrange(key, min=lo, max=hi, count=chunk))
        yield from rows
        if len(rows) < chunk:
            return
        lo = "(" + rows[-1][0].decode()


def stored_trades(
    r: RedisClient, ks: Keyspace, symbol: str, lo_ms: int, hi_ms: int | None = None
) -> Iterator[Trade]:
    """``trades:{S}:latest`` from trade time ``lo_ms`` to ``hi_ms`` (inclusive; None: the
    top), in (trade time, agg id) order: members that share a trade time sort by their
    JSON text in Redis, not by id."""
    hi: float | str = "+inf" if hi_ms is None else hi_ms
    tied: list[Trade] = []
    for member, _score in zset_members(r, ks.trades_latest(symbol), lo_ms, hi):
        t = decode_member(member)
        if tied and t.trade_time != tied[0].trade_time:
            tied.sort(key=lambda x: x.agg_id)
            yield from tied
            tied = []
        tied.append(t)
    tied.sort(key=lambda x: x.agg_id)
    yield from tied


def read_current(r: RedisClient, ks: Keyspace, symbol: str) -> dict[str, int | str]:
    """The ``stats:{S}:current`` hash, fields sorted (empty if absent): counts, ids and
    times as ints, decimals as the stored strings (:func:`typed_current`)."""
    raw = r.hgetall(ks.stats_current(symbol))
    return typed_current({_text(k): _text(v) for k, v in sorted(raw.items())})


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
