"""The follower behind ``orders tail`` against a real redis-server, with the store's own
writer (:class:`Processor`) writing while it follows: every trade of the window once, in id
order per symbol, symbols interleaved by time, no duplicate and no hole at the seam between
the ``--since`` history and the live stream."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import redis
import trio
import trio.lowlevel

from orders_cli.messages import Backfilled
from orders_cli.models import Trade
from orders_cli.ops.tail import Follower, Tailed
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor

KS = Keyspace()
T0 = 1_760_000_000_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


class Clock:
    def __init__(self) -> None:
        self.mono = 0.0

    def monotonic(self) -> float:
        return self.mono


def trade(sym: str, a: int, t: int) -> Trade:
    return Trade(sym, a, "100.10000000", f"0.{a:08d}", a * 2, a * 2 + 1, t, a % 2 == 0, t + 3)


def writer(r: redis.Redis, clock: Clock, cold: bool = False) -> Processor:
    return Processor(
        r,
        KS,
        PlanConfig(first_agg_id=0, cold_start=cold, reorder_s=0.25, first_sight_hold=False),
        clock_ms=lambda: T0 + 10_000_000,
        monotonic=clock.monotonic,
    )


@pytest.fixture
def r(redis_shared: Any) -> redis.Redis:
    return redis_shared.client()  # type: ignore[no-any-return]  # the fixture is untyped


def ids_by_symbol(shown: list[Tailed]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for s in shown:
        out.setdefault(s.trade.symbol, []).append(s.trade.agg_id)
    return out


async def test_every_trade_once_in_id_order_across_the_seam_while_the_writer_writes(
    r: redis.Redis,
) -> None:
    clock = Clock()
    w = writer(r, clock)
    # ids 1..40 per symbol, 10 ms apart, symbols 3 ms apart: the first 20 are history
    # (ids 1..5 are older than --since), the rest are written while the follower runs
    batches = [
        [trade(s, a, T0 + 10 * a + 3 * k) for k, s in enumerate(SYMBOLS)] for a in range(1, 41)
    ]
    for batch in batches[:20]:
        w.process(batch)
    since_ms = T0 + 10 * 6  # ids >= 6 of every symbol
    follower = Follower.start(r, KS, list(SYMBOLS), since_ms)
    shown = list(follower.history(r))
    assert {s: ids[-1] for s, ids in ids_by_symbol(shown).items()} == dict.fromkeys(SYMBOLS, 20)

    async def write_live() -> None:
        for batch in batches[20:]:
            await trio.to_thread.run_sync(w.process, batch)
            await trio.lowlevel.checkpoint()  # let the follower's XREAD interleave with the writes

    want = 3 * (40 - 5)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_live)
            while len(shown) < want:
                shown += await trio.to_thread.run_sync(follower.read, r, 200)
    with trio.fail_after(5):  # nothing more comes: the same trade is never shown twice
        assert await trio.to_thread.run_sync(follower.read, r, 50) == []
    assert ids_by_symbol(shown) == {s: list(range(6, 41)) for s in SYMBOLS}
    assert not any(s.late for s in shown)
    times = [s.trade.trade_time for s in shown[: 3 * 15]]  # the history, interleaved by time
    assert times == sorted(times)
    assert [s.trade.symbol for s in shown[:3]] == list(SYMBOLS)


async def test_without_since_only_trades_stored_after_the_start_are_shown(
    r: redis.Redis,
) -> None:
    w = writer(r, Clock())
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in range(1, 11)])
    follower = Follower.start(r, KS, ["BTCUSDT"], None)
    assert list(follower.history(r)) == []
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in range(11, 16)])
    with trio.fail_after(5):
        shown = await trio.to_thread.run_sync(follower.read, r, 200)
    assert [s.trade.agg_id for s in shown] == list(range(11, 16))


async def test_a_gap_filled_while_following_is_shown_once_marked_late(r: redis.Redis) -> None:
    clock = Clock()
    w = writer(r, clock)
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in (1, 2)])
    follower = Follower.start(r, KS, ["BTCUSDT"], T0)
    w.process([trade("BTCUSDT", a, T0 + 10 * a) for a in (6, 7)])
    clock.mono += 1.0  # past the reorder window: 3..5 is a gap
    w.process([])
    w.process([Backfilled("BTCUSDT", tuple(trade("BTCUSDT", a, T0 + 10 * a) for a in (3, 4, 5)))])
    shown = list(follower.history(r))
    with trio.fail_after(5):
        while len(shown) < 7:
            shown += await trio.to_thread.run_sync(follower.read, r, 200)
    assert [(s.trade.agg_id, s.late) for s in shown] == [
        (1, False), (2, False), (6, False), (7, False), (3, True), (4, True), (5, True)
    ]  # fmt: skip


async def test_a_cold_start_backfill_older_than_the_window_is_not_shown(r: redis.Redis) -> None:
    w = writer(r, Clock(), cold=True)
    now = T0 + 10_000_000
    w.process([trade("BTCUSDT", 100, now)])
    follower = Follower.start(r, KS, ["BTCUSDT"], now - 60_000)
    history = list(follower.history(r))
    w.process([Backfilled("BTCUSDT", tuple(trade("BTCUSDT", a, T0 + a) for a in range(90, 100)))])
    w.process([trade("BTCUSDT", 101, now + 5)])
    with trio.fail_after(5):
        live: list[Tailed] = []
        while not live:
            live += await trio.to_thread.run_sync(follower.read, r, 200)
    assert [s.trade.agg_id for s in itertools.chain(history, live)] == [100, 101]


async def test_following_from_now_during_a_cold_start_backfill_shows_only_new_trades(
    r: redis.Redis,
) -> None:
    w = writer(r, Clock(), cold=True)
    now = T0 + 10_000_000
    w.process([trade("BTCUSDT", 100, now)])
    w.process([Backfilled("BTCUSDT", tuple(trade("BTCUSDT", a, T0 + a) for a in range(90, 95)))])
    follower = Follower.start(r, KS, ["BTCUSDT"], None)  # the stream's top entry is id 94
    w.process([Backfilled("BTCUSDT", tuple(trade("BTCUSDT", a, T0 + a) for a in range(95, 100)))])
    w.process([trade("BTCUSDT", 101, now - 5)])  # its time steps back: shown all the same
    with trio.fail_after(5):
        live: list[Tailed] = []
        while not live:
            live += await trio.to_thread.run_sync(follower.read, r, 200)
    assert [s.trade.agg_id for s in live] == [101]
