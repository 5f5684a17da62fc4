"""The writer's memory of recent bars, so merging a batch rarely reads Redis.

For each symbol and timeframe it keeps the newest few windows and the newest window start
known to exist in Redis: a window after it cannot exist yet, so only late trades into
older windows cost a read (pipelined, one round trip per batch).
"""

from __future__ import annotations

from collections.abc import Sequence

from orders_cli.redis_types import RedisClient
from orders_cli.stats.codec import decode_fixed
from orders_cli.stats.fixed import FixedBar
from orders_cli.store.keys import Keyspace
from orders_cli.store.symbol_io import load_bars
from orders_cli.timeframes import TABLE, TIMEFRAMES

KEEP_WINDOWS: dict[str, int] = {tf.name: tf.cache_windows for tf in TABLE}
"""Windows kept per timeframe (the table's ``cache_windows``). An older window costs a
ranged read when a late trade needs it (rare). Few coarse windows also let an idle run
reach its steady size within two 15m windows (every 1h/4h/1d window kept was the one
loaded or the newest)."""

SymbolBars = dict[str, dict[int, FixedBar]]


class BarCache:
    def __init__(self, redis: RedisClient, keyspace: Keyspace) -> None:
        self.redis = redis
        self.ks = keyspace
        self._bars: dict[str, SymbolBars] = {}
        # newest stored window per (symbol, tf); None = no bar stored; absent = unknown
        self._max_ws: dict[str, dict[str, int | None]] = {}

    def preload(self, symbols: Sequence[str]) -> None:
        todo = [s for s in symbols if s not in self._max_ws]
        if not todo:
            return
        pipe = self.redis.pipeline(transaction=False)
        for s in todo:
            for tf in TIMEFRAMES:
                pipe.zrange(self.ks.bars(s, tf), -1, -1)
        rows = iter(pipe.execute())
        for s in todo:
            bars = self._bars.setdefault(s, {tf: {} for tf in TIMEFRAMES})
            known = self._max_ws.setdefault(s, {})
            for tf in TIMEFRAMES:
                members = next(rows)
                if members:
                    bar = decode_fixed(members[-1])
                    bars[tf][bar.window_start] = bar
                    known[tf] = bar.window_start
                else:
                    known[tf] = None

    def merge(
        self, new: dict[str, SymbolBars]
    ) -> tuple[dict[str, SymbolBars], set[tuple[str, str, int]]]:
        """Merge each symbol's new bars with what is stored (reading only what must be).
        Also returns the (symbol, tf, window) bars known not to be stored yet."""
        self.preload(list(new))
        wanted: list[tuple[str, str, int]] = []
        for s, by_tf in new.items():
            for tf, bars in by_tf.items():
                cached, top = self._bars[s][tf], self._max_ws[s].get(tf)
                for ws in bars:
                    if ws not in cached and top is not None and ws <= top:
                        wanted.append((s, tf, ws))
        stored = load_bars(self.redis, self.ks, wanted)
        out: dict[str, SymbolBars] = {}
        fresh: set[tuple[str, str, int]] = set()
        for s, by_tf in new.items():
            cached_tf = self._bars[s]
            out_s = out[s] = {}
            for tf, bars in by_tf.items():
                cached = cached_tf[tf]
                merged: dict[int, FixedBar] = {}
                for ws, bar in bars.items():
                    old = cached.get(ws) or stored.get((s, tf, ws))
                    if old is None:
                        merged[ws] = bar
                        fresh.add((s, tf, ws))
                    else:
                        merged[ws] = old.merge(bar)
                out_s[tf] = merged
        return out, fresh

    def commit(self, symbol: str, merged: SymbolBars) -> int:
        """Remember bars Redis accepted. Returns how many were corrections of a window
        older than the newest one (late trades into closed bars)."""
        corrections = 0
        bars = self._bars.get(symbol)
        if bars is None:  # (setdefault would build the default on every call)
            bars = self._bars[symbol] = {tf: {} for tf in TIMEFRAMES}
        known = self._max_ws.get(symbol)
        if known is None:
            known = self._max_ws[symbol] = {}
        for tf, by_ws in merged.items():
            top = known.get(tf)
            cached = bars[tf]
            for ws, bar in by_ws.items():
                if top is not None and ws < top:
                    corrections += 1
                cached[ws] = bar
                if top is None or ws > top:
                    top = ws
            known[tf] = top
            keep = KEEP_WINDOWS[tf]
            if len(cached) > keep:
                for ws in sorted(cached)[:-keep]:
                    del cached[ws]
        return corrections

    def held(self, symbol: str) -> dict[str, int]:
        """How many windows are held per timeframe (for tests and memory accounting)."""
        return {tf: len(b) for tf, b in self._bars.get(symbol, {}).items()}

    def windows(self, symbol: str, tf: str) -> list[int]:
        return sorted(self._bars.get(symbol, {}).get(tf, {}))

    def forget(self, symbol: str) -> None:
        self._bars.pop(symbol, None)
        self._max_ws.pop(symbol, None)

    def clear(self) -> None:
        self._bars.clear()
        self._max_ws.clear()
