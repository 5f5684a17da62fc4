"""The backfill with the real writer (Processor on a private redis-server): a long,
budget-paced cold start while the writer re-asks for stale gaps every second fetches
every page exactly once. Fake exchange (bffake.py); trio's autojump clock, which the
processor reads too. Redis calls run inline (``InlineWorker``): a worker thread would
let the autojump clock leap while Redis works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import trio
import trio.testing

from orders_cli.messages import BackfillInput, ColdStart, GapRequest, WriterInput
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.backfill_gate import PageGate
from orders_cli.pipeline.writer import Writer
from orders_cli.sources.base import RestRequest
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import FakeExchange, FakeSource, PacedRest, make_trades, params

KS = Keyspace()
T = TypeVar("T")


class InlineWorker(RedisWorker):
    """Runs the writer's Redis work on the trio thread (tests only: it blocks the loop)."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint()
        return fn(*args)


class PaceOnly:
    """``PacedRest`` for the calls of ``symbol``; the others go straight through."""

    def __init__(self, ex: FakeExchange, symbol: str, target: int) -> None:
        self.ex, self.symbol, self.paced = ex, symbol, PacedRest(ex, target)

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        if req.params["symbol"] == self.symbol:
            return await self.paced.get(req)
        return await self.ex.get(req)


async def test_long_cold_start_with_frequent_regaps_fetches_each_page_once(
    redis_shared: Any, autojump_clock: trio.testing.MockClock
) -> None:
    n = 20_000  # the first live id of A: ~20 pages of cold start at 2 calls a minute
    a_trades = make_trades("A", range(n + 1))
    # B: a live gap REST never has -- it stays open, so the writer re-asks every regap
    b_trades = make_trades("B", range(11))
    ex = FakeExchange({"A": a_trades, "B": b_trades})
    start = trio.current_time()

    def now_ms() -> int:  # the exchange's clock: just after A's newest trade
        return a_trades[-1].trade_time + int((trio.current_time() - start) * 1000)

    client = redis_shared.client()
    proc = Processor(
        client,
        KS,
        PlanConfig(first_agg_id=0, cold_start=True, reorder_s=0.0),
        backfill_ms=86_400_000,  # the window holds all of A: its first id is 0
        clock_ms=now_ms,
        monotonic=trio.current_time,  # gap ages: the same virtual time as the wall clock
    )
    telemetry = Telemetry()
    gate = PageGate()
    w_send, w_recv = trio.open_memory_channel[WriterInput](1000)
    asked_send, asked_recv = trio.open_memory_channel[BackfillInput](1000)
    bf_send, bf_recv = trio.open_memory_channel[BackfillInput](1000)
    asked: list[BackfillInput] = []

    async def relay() -> None:  # what the writer asks the backfill for, on its way
        async with bf_send:
            async for req in asked_recv:
                asked.append(req)
                await bf_send.send(req)

    writer = Writer(
        proc,
        InlineWorker(client),
        w_recv,
        asked_send,
        telemetry,
        batch_s=0.05,
        regap_s=1.0,
        gate=gate,
    )
    backfill = Backfill(
        FakeSource(),
        PaceOnly(ex, "A", target=8),
        bf_recv,
        w_send.clone(),
        telemetry,
        gate=gate,
        clock_ms=now_ms,
    )
    with trio.fail_after(3600):  # virtual seconds
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            nursery.start_soon(relay)
            await nursery.start(backfill.run)
            # B first: its gap is open (and stale) long before A's cold start ends
            for t in (b_trades[0], *make_trades("B", [20]), a_trades[-1]):
                await w_send.send(t)
            for _ in range(360):
                await trio.sleep(10)
                st = proc.states.get("A")
                if st is not None and st.watermark == n and not st.gaps:
                    break
            nursery.cancel_scope.cancel()
    from_ids = [int(p["fromId"]) for p in params(ex) if p["symbol"] == "A" and "fromId" in p]
    starts = [p for p in params(ex) if p["symbol"] == "A" and "startTime" in p]
    assert len(starts) == 1
    assert len(from_ids) == len(set(from_ids)) == 19  # fetched once each
    stored = [
        int(orjson.loads(m)["agg_trade_id"]) for m in client.zrange(KS.trades_latest("A"), 0, -1)
    ]
    assert stored == list(range(n + 1))
    assert trio.current_time() - start > 5 * 60  # long: paced over many regaps
    again = [r for r in asked if isinstance(r, GapRequest | ColdStart) and r.symbol == "A"][1:]
    assert len(again) >= 5  # the writer asked again for A's cold range, many times
    assert telemetry.counters["backfill_deduped"] > 0  # some of it was still in its inbox
    assert [p["symbol"] for p in params(ex)].count("B") > 10  # and B's gap was re-asked
