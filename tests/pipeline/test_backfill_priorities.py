"""REST priorities after a restart: a known gap comes before any speculative call (head
checks, sweeps, cold-start locates), and 30 % of every weight window stays for gap
fills, so a disconnect's gaps are filled within seconds even when a restart has queued a
whole minute's weight of head checks and cold starts. The real RestClient and budget over
an in-memory exchange; trio's MockClock."""

from __future__ import annotations

import random

import httpx
import trio

from orders_cli.messages import (
    COLD_PRIORITY,
    HEAD_PRIORITY,
    Backfilled,
    BackfillInput,
    ColdStart,
    GapRequest,
    HeadCheck,
    HeadSeen,
    WriterInput,
)
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.backfill_queue import (
    HeadWork,
    LocateWork,
    RangeWork,
    WorkQueue,
)
from orders_cli.rest.client import RestClient
from orders_cli.sources.base import RestRequest
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import T0, FakeExchange, FakeSource, make_trades


def test_a_known_gap_pops_before_head_checks_and_locates_queued_after_it() -> None:
    q = WorkQueue()
    q.push(RangeWork("GAP", 5, 9, 0, q.next_seq()))
    q.push(RangeWork("RETRY", 5, 9, 2, q.next_seq()))
    q.push(HeadWork("HEAD", HEAD_PRIORITY, q.next_seq()))
    q.push(LocateWork("COLD", T0, None, COLD_PRIORITY, q.next_seq()))
    order = [w.symbol for w in iter(lambda: q.pop_ready(0.0, ()), None)]
    assert order == ["GAP", "RETRY", "HEAD", "COLD"]


def test_speculative_work_never_takes_the_last_free_slot() -> None:
    q = WorkQueue()
    q.push(HeadWork("HEAD", HEAD_PRIORITY, q.next_seq()))
    assert q.pop_ready(0.0, (), speculative=False) is None
    q.push(RangeWork("GAP", 5, 9, 0, q.next_seq()))
    got = q.pop_ready(0.0, (), speculative=False)
    assert got is not None and got.symbol == "GAP"


def test_head_checks_held_back_let_a_cold_start_pop_first() -> None:
    q = WorkQueue()
    q.push(LocateWork("COLD", T0, None, COLD_PRIORITY, q.next_seq()))
    q.push(HeadWork("HEAD", HEAD_PRIORITY, q.next_seq()))
    got = q.pop_ready(0.0, (), head_checks=False)
    assert got is not None and got.symbol == "COLD"
    assert q.pop_ready(0.0, (), head_checks=False) is None


def exchange_transport(ex: FakeExchange) -> httpx.MockTransport:
    async def answer(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        body = await ex.get(RestRequest(request.url.path, params, 4))
        return httpx.Response(200, content=body)

    return httpx.MockTransport(answer)


async def test_a_gap_after_a_restart_burst_is_filled_within_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    symbols = [f"S{i}" for i in range(300)]
    ex = FakeExchange({s: make_trades(s, range(3000)) for s in symbols})
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](1000)
    out_send, out_recv = trio.open_memory_channel[WriterInput](10_000)
    filled_at: list[float] = []
    filled = trio.Event()
    rest = RestClient(
        "http://exchange.test",
        weight_limit_per_minute=1000,  # cap 800: the head checks alone are 1,200
        transport=exchange_transport(ex),
        minute_offset=0.0,
        rng=random.Random(1),
    )

    async def collect() -> None:
        async for msg in out_recv:
            if isinstance(msg, Backfilled) and msg.symbol == "S7" and msg.trades[0].agg_id == 10:
                filled_at.append(trio.current_time())
                filled.set()

    async with rest, trio.open_nursery() as nursery:
        backfill = Backfill(
            FakeSource(), rest, req_recv, out_send, telemetry, clock_ms=lambda: T0 + 10_000_000
        )
        nursery.start_soon(collect)
        await nursery.start(backfill.run)
        # the restart: head checks of every symbol and cold starts of fifty
        req_send.send_nowait(HeadCheck(tuple(symbols), reason="reconnect"))
        for s in symbols[:50]:
            req_send.send_nowait(ColdStart(s, T0, until_id=2500))
        await trio.sleep(45.0)
        assert ex.per_minute[0] >= 500  # the restart did spend the minute's weight
        gap_at = trio.current_time()
        req_send.send_nowait(GapRequest("S7", 10, 20))  # then a disconnect's gap
        with trio.fail_after(50):
            await filled.wait()
        nursery.cancel_scope.cancel()
    assert filled_at[0] - gap_at < 3.0
    assert max(ex.per_minute.values()) <= 800


async def test_a_gap_is_not_held_by_its_symbols_head_check_waiting_for_the_next_minute(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Head checks use their 70 % of the minute (140 of weight 4 under a cap of 800); the
    next one would wait for the next minute. A gap in that very symbol still has weight
    (the 30 % kept for gap fills): it is filled at once, not after the head check."""
    symbols = [f"S{i}" for i in range(200)]
    ex = FakeExchange({s: make_trades(s, range(100)) for s in symbols})
    req_send, req_recv = trio.open_memory_channel[BackfillInput](1000)
    out_send, out_recv = trio.open_memory_channel[WriterInput](10_000)
    rest = RestClient(
        "http://exchange.test",
        weight_limit_per_minute=1000,
        transport=exchange_transport(ex),
        minute_offset=0.0,
        rng=random.Random(1),
    )
    filled, all_heads = trio.Event(), trio.Event()
    heads: set[str] = set()

    async def collect() -> None:
        async for msg in out_recv:
            if isinstance(msg, Backfilled) and msg.trades[0].agg_id == 10:
                filled.set()
            if isinstance(msg, HeadSeen):
                heads.add(msg.symbol)
                if len(heads) == len(symbols):
                    all_heads.set()

    async with rest, trio.open_nursery() as nursery:
        backfill = Backfill(FakeSource(), rest, req_recv, out_send, Telemetry())
        nursery.start_soon(collect)
        await nursery.start(backfill.run)
        req_send.send_nowait(HeadCheck(tuple(symbols), reason="reconnect"))
        await trio.sleep(45.0)
        asked = {r.params["symbol"] for r in ex.requests}
        assert len(asked) == 140  # 560 weight: the head checks' share of this minute
        # newest first: the next head check to go is the highest-numbered symbol left
        waiting = max((s for s in symbols if s not in asked), key=lambda s: int(s[1:]))
        gap_at = trio.current_time()
        req_send.send_nowait(GapRequest(waiting, 10, 20))
        with trio.fail_after(30):
            await filled.wait()
        filled_in = trio.current_time() - gap_at
        with trio.fail_after(60):  # the head checks held back go in the next minute
            await all_heads.wait()
        nursery.cancel_scope.cancel()
    assert filled_in < 1.0
    assert ex.per_minute[0] <= 800
    assert ex.per_minute[1] <= 800


class BlockSpeculative:
    """Speculative calls wait (a budget that has no room for them); gap fills go."""

    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        self.blocked = 0

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        if speculative:
            self.blocked += 1
            await trio.sleep_forever()
        return await self.exchange.get(req)


async def test_blocked_speculative_calls_leave_a_slot_for_a_gap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({f"S{i}": make_trades(f"S{i}", range(100)) for i in range(10)})
    rest = BlockSpeculative(ex)
    req_send, req_recv = trio.open_memory_channel[BackfillInput](100)
    out_send, out_recv = trio.open_memory_channel[WriterInput](100)
    backfill = Backfill(FakeSource(), rest, req_recv, out_send, Telemetry(), concurrency=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(backfill.run)
        req_send.send_nowait(HeadCheck(tuple(f"S{i}" for i in range(1, 10))))
        await trio.sleep(1.0)
        assert rest.blocked == 3  # never the fourth slot
        req_send.send_nowait(GapRequest("S0", 10, 20))
        with trio.fail_after(5):
            got = await out_recv.receive()
        nursery.cancel_scope.cancel()
    assert isinstance(got, Backfilled) and got.trades[0].agg_id == 10


class PausedRest:
    """Every call takes ``pause_s`` (the whole IP paused by 429s with ``Retry-After``):
    the backfill's throughput is its slots over that pause, whatever the weight budget."""

    def __init__(self, exchange: FakeExchange, pause_s: float = 1.0) -> None:
        self.exchange = exchange
        self.pause_s = pause_s

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        await trio.sleep(self.pause_s)
        return await self.exchange.get(req)


async def test_a_cold_start_is_served_while_head_checks_arrive_faster_than_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Sweeps ask for 40 head checks every 4 s (10 a second) of a backfill that answers 5
    a second: head checks rank before cold starts, yet the cold start still runs."""
    symbols = [f"S{i}" for i in range(40)]
    ex = FakeExchange({s: make_trades(s, range(100)) for s in [*symbols, "COLD"]})
    req_send, req_recv = trio.open_memory_channel[BackfillInput](1000)
    out_send, out_recv = trio.open_memory_channel[WriterInput](10_000)
    backfill = Backfill(FakeSource(), PausedRest(ex), req_recv, out_send, Telemetry())
    cold: list[Backfilled] = []
    served = trio.Event()

    async def collect() -> None:
        async for msg in out_recv:
            if isinstance(msg, Backfilled) and msg.symbol == "COLD":
                cold.append(msg)
                served.set()

    async def sweeps() -> None:
        while True:
            req_send.send_nowait(HeadCheck(tuple(symbols)))
            await trio.sleep(4.0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        await nursery.start(backfill.run)
        nursery.start_soon(sweeps)
        await trio.sleep(0.5)  # the first sweep is queued
        req_send.send_nowait(ColdStart("COLD", T0, until_id=50))
        with trio.fail_after(30):
            await served.wait()
        nursery.cancel_scope.cancel()
    assert cold[0].trades[0].agg_id == 0
