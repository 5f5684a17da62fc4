"""A bad page (an HTML 200, truncated JSON, a 4xx without an exchange error body) never
closes a symbol's history window: the work is retried with backoff and the cold gap stays
open until a well-formed answer comes. Only the exchange's own error (-1121) closes it."""

from __future__ import annotations

import trio

from orders_cli.errors import BadExchangeReply, ExchangeRejected
from orders_cli.messages import (
    Backfilled,
    BackfillInput,
    ColdStart,
    ColdStartDone,
    GapRequest,
    WriterInput,
)
from orders_cli.sources.base import RestRequest
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import T0, FakeExchange, FakeSource, ids_of, make_trades


class BadFirst:
    """The fake exchange behind a proxy that answers the first ``n`` calls badly."""

    def __init__(self, exchange: FakeExchange, n: int, error: Exception) -> None:
        self.exchange, self.n, self.error = exchange, n, error
        self.calls: list[float] = []

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        self.calls.append(trio.current_time())
        if len(self.calls) <= self.n:
            raise self.error
        return await self.exchange.get(req)


async def run(rest: BadFirst, inputs: list[BackfillInput]) -> tuple[list[WriterInput], Telemetry]:
    from orders_cli.pipeline.backfill import Backfill

    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](len(inputs))
    out_send, out_recv = trio.open_memory_channel[WriterInput](4)
    backfill = Backfill(
        FakeSource(), rest, req_recv, out_send, telemetry, clock_ms=lambda: T0 + 10_000_000
    )
    got: list[WriterInput] = []

    async def collect() -> None:
        async for msg in out_recv:
            got.append(msg)

    for msg in inputs:
        req_send.send_nowait(msg)
    req_send.close()
    with trio.fail_after(3600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await nursery.start(backfill.run)
    return got, telemetry


BAD = [
    BadExchangeReply("aggTrades: body is not JSON (<html>)"),
    ExchangeRejected("aggTrades[3]: missing:q"),  # our parser refused the page: no code
]


async def test_a_bad_page_on_the_cold_start_locate_keeps_the_window_and_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    for error in BAD:
        ex = FakeExchange({"A": make_trades("A", range(1500))})
        rest = BadFirst(ex, 3, error)
        got, tel = await run(rest, [ColdStart("A", T0, until_id=1200)])
        assert ids_of(got, "A") == list(range(1200)), error
        assert got[-1] == ColdStartDone("A", 0)  # never ColdStartDone("A", None)
        assert tel.counters["backfill_retries"] == 3
        assert rest.calls[1] - rest.calls[0] >= 1.0  # backoff between attempts


async def test_a_bad_page_on_a_gap_fill_is_retried_not_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    for error in BAD:
        ex = FakeExchange({"A": make_trades("A", range(100))})
        got, tel = await run(BadFirst(ex, 2, error), [GapRequest("A", 10, 50)])
        assert ids_of(got, "A") == list(range(10, 51)), error
        assert tel.counters["backfill_dropped"] == 0


async def test_the_exchanges_own_error_still_closes_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({})
    rejected = ExchangeRejected("Invalid symbol.", code=-1121, status=400)
    got, tel = await run(BadFirst(ex, 1, rejected), [ColdStart("GONE", T0, until_id=None)])
    assert got == [ColdStartDone("GONE", None)]
    assert not [m for m in got if isinstance(m, Backfilled)]
    assert tel.counters["backfill_dropped"] == 1
