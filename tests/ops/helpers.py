"""Writing the store the way the writer does (for ops tests)."""

from __future__ import annotations

from typing import Any

import orjson
import redis

from orders_cli.models import Trade
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import encode_member, stream_fields

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NOW_MS = 1_760_000_000_000  # 2025-10-09T08:53:20Z


def trade(symbol: str, agg_id: int, t_ms: int, price: str = "65000.01000000") -> Trade:
    return Trade(
        symbol=symbol,
        agg_id=agg_id,
        price=price,
        quantity=f"0.{agg_id:08d}",
        first_trade_id=agg_id * 10,
        last_trade_id=agg_id * 10 + 2,
        trade_time=t_ms,
        is_buyer_maker=agg_id % 2 == 0,
        event_time=t_ms + 1,
    )


def store(r: redis.Redis, ks: Keyspace, trades: list[Trade]) -> None:
    for t in trades:
        r.sadd(ks.symbols(), t.symbol)
        r.zadd(ks.trades_latest(t.symbol), {encode_member(t): t.trade_time})
        stream_add(r, ks, t)


def stream_add(r: redis.Redis, ks: Keyspace, t: Trade) -> bytes:
    """Like the writer: entry id ``max(T, last ms)-seq``, strictly increasing."""
    key = ks.trades_stream(t.symbol)
    ms, seq = t.trade_time, 0
    if r.exists(key):
        last = r.xinfo_stream(key)["last-generated-id"]
        last_ms, last_seq = (int(x) for x in last.split(b"-"))
        if last_ms >= ms:
            ms, seq = last_ms, last_seq + 1
    fields = stream_fields(t)
    entry = dict(zip(fields[::2], fields[1::2], strict=True))
    return r.xadd(key, entry, id=f"{ms}-{seq}")  # type: ignore[no-any-return]  # bytes id


def bar(r: redis.Redis, ks: Keyspace, symbol: str, tf: str, start_ms: int) -> None:
    member = orjson.dumps({"window_start": start_ms, "open": "1.0", "close": "1.0"})
    r.zadd(ks.bars(symbol, tf), {member: start_ms})


def set_gaps(r: redis.Redis, ks: Keyspace, symbol: str, gaps: list[list[object]]) -> None:
    r.hset(ks.state(symbol), mapping={"watermark": 100, "revision": 7, "gaps": orjson.dumps(gaps)})


def run_main(capfd: Any, *args: str) -> tuple[int, str, str]:
    """``orders ARGS`` in-process (fast: no interpreter start): (exit code, stdout, stderr)."""
    import sys

    import pytest

    from orders_cli.cli.app import main

    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    sys.stdout.flush()
    out, err = capfd.readouterr()
    return int(info.value.code or 0), out, err
