"""The writer's batching policy between live trades and backfilled pages: while live
trades wait, a batch applies at most one page per ``live_per_page`` live trades and at
least one; pages keep their order with the backfill's other messages. A recording
processor (no Redis) and trio's autojump clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import trio
import trio.testing

from orders_cli.messages import Backfilled, ColdStartDone, WriterInput
from orders_cli.models import Trade
from orders_cli.pipeline.writer import Writer
from orders_cli.store.processor import Outcome
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry

T = TypeVar("T")
PER_PAGE = 100


class InlineWorker(RedisWorker):
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint()
        return fn(*args)


class Recorder:
    """Stands in for the Processor: records each batch, applies nothing."""

    def __init__(self) -> None:
        self.batches: list[list[WriterInput]] = []

    def process(self, inputs: Sequence[WriterInput], flush: bool = False) -> Outcome:
        self.batches.append(list(inputs))
        return Outcome()

    def needs_tick(self) -> bool:
        return False

    def open_gaps(self) -> tuple[int, int | None]:
        return 0, None

    def most_gaps_per_symbol(self) -> int:
        return 0


def live(symbol: str, agg_id: int) -> Trade:
    return Trade(symbol, agg_id, "1", "1", agg_id, agg_id, agg_id, False, agg_id)


def page(n: int) -> Backfilled:
    return Backfilled("REST", tuple(live("REST", n * 1000 + i) for i in range(1000)))


def pages_per_batch(rec: Recorder) -> list[int]:
    return [sum(isinstance(i, Backfilled) for i in b) for b in rec.batches]


async def run_writer(
    feed: Callable[[trio.MemorySendChannel[WriterInput]], Any], batch_max: int = 5000
) -> Recorder:
    rec = Recorder()
    send, recv = trio.open_memory_channel[WriterInput](100_000)
    writer = Writer(
        rec,  # type: ignore[arg-type]  # a recording stand-in for the Processor
        InlineWorker(None),  # type: ignore[arg-type]  # never touches Redis
        recv,
        None,
        Telemetry(),
        batch_s=0.1,
        batch_max=batch_max,
        live_per_page=PER_PAGE,
    )
    with trio.fail_after(60):
        async with trio.open_nursery() as n:
            n.start_soon(writer.run)
            async with send:
                await feed(send)
    return rec


async def test_pages_take_one_slot_per_live_trades_while_live_waits_then_all_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def feed(send: trio.MemorySendChannel[WriterInput]) -> None:
        for n in range(10):
            send.send_nowait(page(n))
        for a in range(3 * PER_PAGE):
            send.send_nowait(live("LIVE", a))
        await trio.sleep(1)  # the first batch is applied; nothing else comes meanwhile

    rec = await run_writer(feed)
    assert pages_per_batch(rec)[:2] == [3, 7]  # 300 live trades: 3 pages; then the rest
    assert sum(isinstance(i, Trade) for i in rec.batches[0]) == 3 * PER_PAGE


async def test_a_page_is_applied_in_every_batch_however_many_live_trades_keep_coming(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A backlog of live trades larger than a batch (fewer than ``live_per_page`` live
    trades in each batch): still a page in each."""

    async def feed(send: trio.MemorySendChannel[WriterInput]) -> None:
        for n in range(5):
            send.send_nowait(page(n))
        send.send_nowait(ColdStartDone("REST", 0))  # after the pages, in their order
        for a in range(400):
            send.send_nowait(live("LIVE", a))
        await trio.sleep(1)

    rec = await run_writer(feed, batch_max=50)
    assert pages_per_batch(rec)[:6] == [1, 1, 1, 1, 1, 0]
    assert all(any(isinstance(i, Trade) for i in b) for b in rec.batches[:5])
    order = [i for b in rec.batches for i in b if not isinstance(i, Trade)]
    assert [type(i).__name__ for i in order] == ["Backfilled"] * 5 + ["ColdStartDone"]
    assert [i.trades[0].agg_id for i in order if isinstance(i, Backfilled)] == [
        n * 1000 for n in range(5)
    ]


async def test_pages_deferred_at_shutdown_are_applied_in_the_final_flush(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def feed(send: trio.MemorySendChannel[WriterInput]) -> None:
        for n in range(4):
            send.send_nowait(page(n))
        for a in range(PER_PAGE):
            send.send_nowait(live("LIVE", a))

    rec = await run_writer(feed)
    assert sum(pages_per_batch(rec)) == 4
