"""The writer's bar cache: bounded per timeframe, and a late trade into a window it no
longer holds is merged with the stored bar (read from Redis), never written over it."""

from __future__ import annotations

from typing import Any

from orders_cli.models import Trade
from orders_cli.stats.codec import encode_bar
from orders_cli.stats.fixed import bars_at, bars_for_batch, merge_bars
from orders_cli.store.bar_cache import KEEP_WINDOWS, BarCache
from orders_cli.store.keys import Keyspace
from orders_cli.timeframes import TIMEFRAMES

KS = Keyspace()
SYM = "BTCUSDT"
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000  # a UTC day boundary


def trade(a: int, t: int, price: str = "100.5") -> Trade:
    return Trade(SYM, a, price, "0.25000000", a, a, t, False, t)


def store(r: Any, trades: list[Trade]) -> None:
    for tf, bars in bars_for_batch(trades).items():
        for ws, bar in bars.items():
            r.zremrangebyscore(KS.bars(SYM, tf), ws, ws)
            r.zadd(KS.bars(SYM, tf), {encode_bar(bar): ws})


def test_the_cache_keeps_at_most_its_windows_per_timeframe(redis_shared: Any) -> None:
    r = redis_shared.client()
    cache = BarCache(r, KS)
    # one trade every 20 minutes for three days: many windows of every timeframe
    for n in range(3 * 72):
        t = T0 + n * 1_200_000
        merged, _fresh = cache.merge({SYM: bars_for_batch([trade(n + 1, t)])})
        cache.commit(SYM, merged[SYM])
    held = cache.held(SYM)
    assert held == {tf: KEEP_WINDOWS[tf] for tf in TIMEFRAMES}


def test_a_late_trade_into_an_evicted_window_merges_with_the_stored_bar(
    redis_shared: Any,
) -> None:
    r = redis_shared.client()
    first = [trade(1, T0 + 1_000, "100"), trade(2, T0 + 2_000, "101")]
    store(r, first)
    cache = BarCache(r, KS)
    later = [trade(3 + n, T0 + (n + 1) * 3_600_000) for n in range(3)]  # three more hours
    for t in later:
        merged, _ = cache.merge({SYM: bars_for_batch([t])})
        store(r, [t])
        cache.commit(SYM, merged[SYM])
    assert T0 not in cache.windows(SYM, "1h")  # evicted
    late = trade(99, T0 + 3_000, "99")
    merged, fresh = cache.merge({SYM: {"1h": bars_at([late], "1h")}})
    expected = merge_bars(bars_at(first, "1h"), bars_at([late], "1h"))
    assert {ws: b.to_bar() for ws, b in merged[SYM]["1h"].items()} == {
        ws: b.to_bar() for ws, b in expected.items()
    }
    assert (SYM, "1h", T0) not in fresh  # it replaces the stored bar
