"""``orders tail --since`` older than the stream's retention: the history reads the
``latest`` ZSET up to the stream's oldest entry and hands over to the stream by agg id —
every trade of the window once, in id order, nothing skipped at the seam, including gap
fills older than the stream that are written while tail starts (real redis-server, the
store's own writer)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import trio

from orders_cli.messages import Backfilled
from orders_cli.ops.tail import Follower
from tests.ops.test_tail_follow import KS, SYMBOLS, T0, Clock, ids_by_symbol, trade, writer


@pytest.fixture
def r(redis_shared: Any) -> redis.Redis:
    return redis_shared.client()  # type: ignore[no-any-return]  # the fixture is untyped


def trim_stream_before(r: redis.Redis, symbol: str, ms: int) -> None:
    """What prune does to the stream at its own (shorter) retention."""
    r.xtrim(KS.trades_stream(symbol), minid=f"{ms}-0", approximate=False)


async def test_since_older_than_the_stream_reads_the_zset_then_the_stream_each_trade_once(
    r: redis.Redis,
) -> None:
    w = writer(r, Clock())
    for a in range(1, 41):
        w.process([trade(s, a, T0 + 10 * a + 3 * k) for k, s in enumerate(SYMBOLS)])
    for s in SYMBOLS:
        trim_stream_before(r, s, T0 + 10 * 21)  # the stream keeps ids 21..40
        assert r.xlen(KS.trades_stream(s)) == 20
    follower = Follower.start(r, KS, list(SYMBOLS), T0 + 10 * 6)
    shown = list(follower.history(r))
    assert ids_by_symbol(shown) == {s: list(range(6, 41)) for s in SYMBOLS}
    times = [t.trade.trade_time for t in shown]
    assert times == sorted(times)
    assert not any(t.late for t in shown)
    w.process([trade(s, 41, T0 + 10 * 41) for s in SYMBOLS])
    live: list[Any] = []
    with trio.fail_after(5):
        while len(live) < 3:
            live += await trio.to_thread.run_sync(follower.read, r, 200)
    got = sorted((t.trade.symbol, t.trade.agg_id) for t in live)
    assert got == [(s, 41) for s in sorted(SYMBOLS)]


@pytest.mark.parametrize("trim_ms", [T0 + 210, T0 + 300], ids=["mid", "fill-is-oldest-entry"])
async def test_a_gap_older_than_the_stream_filled_before_tail_starts_is_shown_once_in_order(
    r: redis.Redis, trim_ms: int
) -> None:
    clock = Clock()
    w = writer(r, clock)
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in range(1, 31) if a != 10])
    clock.mono += 1.0  # past the reorder window: 10 is a gap
    w.process([])
    w.process([Backfilled("BTCUSDT", (trade("BTCUSDT", 10, T0 + 100),))])  # stream: ..30, 10
    trim_stream_before(r, "BTCUSDT", trim_ms)
    follower = Follower.start(r, KS, ["BTCUSDT"], T0 + 10 * 5)
    shown = [t.trade.agg_id for t in follower.history(r)]
    assert shown == list(range(5, 31))


async def test_a_gap_older_than_the_stream_filled_while_tail_starts_is_not_shown_twice(
    r: redis.Redis,
) -> None:
    clock = Clock()
    w = writer(r, clock)
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in range(1, 31) if a != 10])
    clock.mono += 1.0
    w.process([])
    trim_stream_before(r, "BTCUSDT", T0 + 10 * 21)
    follower = Follower.start(r, KS, ["BTCUSDT"], T0 + 10 * 5)
    # filled after the seam was fixed, before the history is read: in the ZSET the history
    # reads and in the stream after the seam
    w.process([Backfilled("BTCUSDT", (trade("BTCUSDT", 10, T0 + 100),))])
    shown = [t.trade.agg_id for t in follower.history(r)]
    w.process([trade("BTCUSDT", 31, T0 + 310)])
    with trio.fail_after(5):
        while shown[-1] != 31:
            shown += [t.trade.agg_id for t in await trio.to_thread.run_sync(follower.read, r, 200)]
    assert shown == list(range(5, 32))


async def test_an_empty_stream_hands_the_whole_window_to_the_zset(r: redis.Redis) -> None:
    w = writer(r, Clock())
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in range(1, 21)])
    trim_stream_before(r, "BTCUSDT", T0 + 10_000)  # a quiet symbol: the stream is empty
    follower = Follower.start(r, KS, ["BTCUSDT"], T0 + 10 * 3)
    shown = [t.trade.agg_id for t in follower.history(r)]
    assert shown == list(range(3, 21))
    w.process([trade("BTCUSDT", 21, T0 + 210)])
    with trio.fail_after(5):
        while shown[-1] != 21:
            shown += [t.trade.agg_id for t in await trio.to_thread.run_sync(follower.read, r, 200)]
    assert shown == list(range(3, 22))


def test_the_ids_shown_from_the_zset_are_kept_as_few_ranges_in_any_order() -> None:
    from orders_cli.ops.tail import ShownIds

    spans = ShownIds()
    for a in (5, 6, 7, 10, 9, 3, 8, 20, 4):
        spans.add(a)
    assert (spans.lo, spans.hi) == ([3, 20], [10, 20])
    assert [a for a in range(0, 25) if a in spans] == [*range(3, 11), 20]
