"""``symbol:{S}:info`` hashes from the exchange's listing (discovery and listing sync).
``last_trade_time`` is the writer's (inside the atomic apply); these fields are ours."""

from __future__ import annotations

from collections.abc import Sequence

from orders_cli.models import SymbolInfo
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace

DELISTED = "DELISTED"
"""``symbol:{S}:info.status`` of a symbol the exchange no longer lists at all (ours: the
exchange's own statuses are kept as it sends them)."""


def write_infos(
    redis: RedisClient, ks: Keyspace, infos: Sequence[SymbolInfo], market: str, now_ms: int
) -> None:
    pipe = redis.pipeline(transaction=False)
    for info in infos:
        pipe.hset(
            ks.symbol_info(info.symbol),
            mapping={
                "base_asset": info.base_asset,
                "quote_asset": info.quote_asset,
                "status": info.status,
                "market": market,
                "updated_at": now_ms,
            },
        )
        pipe.sadd(ks.symbols(), info.symbol)
    pipe.execute()


def mark_delisted(
    redis: RedisClient, ks: Keyspace, symbols: Sequence[str], market: str, now_ms: int
) -> None:
    if not symbols:
        return
    pipe = redis.pipeline(transaction=False)
    for symbol in symbols:
        pipe.hset(
            ks.symbol_info(symbol),
            mapping={"status": DELISTED, "market": market, "updated_at": now_ms},
        )
    pipe.execute()


def held_symbols(redis: RedisClient, ks: Keyspace) -> set[str]:
    """Every symbol this market's keyspace has seen (listed or stored); read with SSCAN in
    pages, so a large set never blocks Redis."""
    members = redis.sscan_iter(ks.symbols(), count=1000)
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}


def stored_counts(redis: RedisClient, ks: Keyspace, chunk: int = 500) -> tuple[int, int]:
    """(symbols with trades, trades) the store holds: one ZCARD per held symbol,
    pipelined ``chunk`` at a time."""
    symbols = sorted(held_symbols(redis, ks))
    held = trades = 0
    for start in range(0, len(symbols), chunk):
        pipe = redis.pipeline(transaction=False)
        for symbol in symbols[start : start + chunk]:
            pipe.zcard(ks.trades_latest(symbol))
        counts = [int(n) for n in pipe.execute()]
        held += sum(1 for n in counts if n)
        trades += sum(counts)
    return held, trades


def save_malformed(
    redis: RedisClient, ks: Keyspace, samples: Sequence[str], keep: int = 100
) -> None:
    """Keep a bounded sample of malformed frames for inspection (newest first)."""
    if not samples:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.lpush(ks.malformed_samples(), *samples)
    pipe.ltrim(ks.malformed_samples(), 0, keep - 1)
    pipe.execute()
