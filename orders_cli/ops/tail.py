"""Following ``trades:{S}:stream`` (``orders tail``): symbol checks, XREAD cursors, and the
``--stats`` view (current 100 ms window + latest 1m bar). Sync; run in a trio thread."""

from __future__ import annotations

import difflib
from typing import Any, cast

import attrs
import orjson

from orders_cli.errors import UsageError
from orders_cli.models import Trade
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_stream_fields

MAX_SEQ = 18446744073709551615


def known_symbols(r: RedisClient, keyspace: Keyspace) -> set[str]:
    return {s.decode() for s in r.sscan_iter(keyspace.symbols(), count=1000)}


def resolve_symbols(r: RedisClient, keyspace: Keyspace, wanted: list[str]) -> list[str]:
    """Upper-cased ``wanted``; :class:`UsageError` (exit 2) naming close matches if one is
    not stored."""
    symbols = [s.strip().upper() for s in wanted if s.strip()]
    if not symbols:
        raise UsageError("give at least one SYMBOL, e.g. orders tail BTCUSDT")
    known = known_symbols(r, keyspace)
    for s in symbols:
        if s not in known:
            close = difflib.get_close_matches(s, sorted(known), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            where = keyspace.market_prefix.rstrip(":") or "spot"
            raise UsageError(f"unknown symbol {s!r} (not stored for market {where}){hint}")
    return symbols


@attrs.define
class Follower:
    """XREAD cursors over several symbols' streams."""

    keyspace: Keyspace
    symbol_of: dict[str, str]  # stream key -> symbol
    cursors: dict[str | bytes | memoryview, str | bytes | memoryview | int]

    @classmethod
    def start(
        cls, r: RedisClient, keyspace: Keyspace, symbols: list[str], since_ms: int | None
    ) -> Follower:
        """From ``since_ms`` on (wall ms), else only entries added from now on."""
        symbol_of: dict[str, str] = {}
        cursors: dict[str | bytes | memoryview, str | bytes | memoryview | int] = {}
        for s in symbols:
            key = keyspace.trades_stream(s)
            symbol_of[key] = s
            if since_ms is None:
                last = cast(list[tuple[bytes, Any]], r.xrevrange(key, count=1))
                cursors[key] = last[0][0].decode() if last else "0-0"
            else:
                cursors[key] = "0-0" if since_ms <= 0 else f"{since_ms - 1}-{MAX_SEQ}"
        return cls(keyspace=keyspace, symbol_of=symbol_of, cursors=cursors)

    def read(self, r: RedisClient, block_ms: int, count: int = 1000) -> list[Trade]:
        """One XREAD BLOCK over every stream; advances the cursors; [] on timeout."""
        reply = cast(
            list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None,
            r.xread(self.cursors, count=count, block=block_ms),
        )
        out: list[Trade] = []
        for raw_key, entries in reply or []:
            key = raw_key.decode()
            symbol = self.symbol_of[key]
            for entry_id, fields in entries:
                out.append(decode_stream_fields(symbol, fields))
                self.cursors[key] = entry_id.decode()
        return out


def stats_view(r: RedisClient, keyspace: Keyspace, symbol: str) -> dict[str, Any]:
    """``{"symbol", "current": {field: str}, "bar_1m": {...} | None}`` (decimal strings)."""
    raw = cast(dict[bytes, bytes], r.hgetall(keyspace.stats_current(symbol)))
    current = {k.decode(): v.decode() for k, v in sorted(raw.items())}
    last = cast(list[bytes], r.zrange(keyspace.bars(symbol, "1m"), -1, -1))
    bar = orjson.loads(last[0]) if last else None
    return {"symbol": symbol, "current": current, "bar_1m": bar}
