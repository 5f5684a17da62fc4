"""Reading a symbol's committed state and bars back from Redis (the writer's reload path
after a restart, a conflict or a lost connection)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orders_cli.redis_types import RedisClient
from orders_cli.stats.codec import decode_fixed
from orders_cli.stats.fixed import FixedBar
from orders_cli.store import gaps as gapops
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import SymbolState
from orders_cli.store.rollup import decode_marker

STATE_FIELDS = (
    "revision",
    "watermark",
    "gaps",
    "newest_id",
    "current_ws",
    "last_trade_time",
    "rollup",
)


def _int(raw: bytes | None) -> int | None:
    return None if raw is None or raw == b"" else int(raw)


def load_states(redis: RedisClient, ks: Keyspace, symbols: Sequence[str]) -> dict[str, SymbolState]:
    """One pipelined HMGET per symbol."""
    pipe = redis.pipeline(transaction=False)
    for s in symbols:
        pipe.hmget(ks.state(s), STATE_FIELDS)
    out: dict[str, SymbolState] = {}
    for s, row in zip(symbols, pipe.execute(), strict=True):
        rev, wm, gaps, newest, cur_ws, ltt, rollup = row
        out[s] = SymbolState(
            symbol=s,
            revision=_int(rev) or 0,
            watermark=_int(wm),
            gaps=gapops.decode_gaps(gaps),
            newest_id=_int(newest),
            current_ws=_int(cur_ws),
            last_trade_time=_int(ltt),
            rollup=decode_marker(rollup),
        )
    return out


def load_revisions(redis: RedisClient, ks: Keyspace, symbols: Sequence[str]) -> dict[str, int]:
    """Each symbol's committed state revision (0: no state)."""
    pipe = redis.pipeline(transaction=False)
    for s in symbols:
        pipe.hget(ks.state(s), "revision")
    return {s: _int(raw) or 0 for s, raw in zip(symbols, pipe.execute(), strict=True)}


def load_bars(
    redis: RedisClient, ks: Keyspace, wanted: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, str, int], FixedBar]:
    """Stored bars for (symbol, tf, window_start) triples; missing ones are absent.
    One ranged read per (symbol, tf) covering its wanted windows (a backfilled page
    touches hundreds of 100 ms windows: one call, not hundreds); only the wanted bars
    are decoded."""
    spans: dict[tuple[str, str], set[int]] = {}
    for symbol, tf, ws in wanted:
        spans.setdefault((symbol, tf), set()).add(ws)
    if not spans:
        return {}
    order = list(spans)
    pipe = redis.pipeline(transaction=False)
    for symbol, tf in order:
        windows = spans[(symbol, tf)]
        pipe.zrangebyscore(ks.bars(symbol, tf), min(windows), max(windows), withscores=True)
    out: dict[tuple[str, str, int], FixedBar] = {}
    for (symbol, tf), rows in zip(order, pipe.execute(), strict=True):
        windows = spans[(symbol, tf)]
        for member, score in rows:
            ws = int(score)
            if ws in windows:
                out[(symbol, tf, ws)] = decode_fixed(member)
    return out
