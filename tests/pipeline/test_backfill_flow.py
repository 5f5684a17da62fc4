"""The backfill and the writer together: pages handed to the writer are bounded in trades,
a range being worked on is never fetched twice, a ban is waited out. Fake exchange
(tests/pipeline/bffake.py); time is trio's autojump clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from orders_cli.messages import (
    Backfilled,
    BackfillInput,
    ColdStart,
    ColdStartDone,
    GapRequest,
    WriterInput,
)
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.backfill_gate import PageGate, subtract
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import FakeExchange, FakeSource, ids_of, make_trades, params


class SlowWriter:
    """Applies one input per ``apply_s`` (trio time), then releases it from the gate.
    Records the most trades and backfill items waiting in its inbox at once."""

    def __init__(
        self, inbox: trio.MemoryReceiveChannel[WriterInput], gate: PageGate, apply_s: float
    ) -> None:
        self.inbox, self.gate, self.apply_s = inbox, gate, apply_s
        self.got: list[WriterInput] = []
        self.max_queued = 0

    async def run(self) -> None:
        async for msg in self.inbox:
            queued = self.inbox.statistics().current_buffer_used + 1
            self.max_queued = max(self.max_queued, queued)
            await trio.sleep(self.apply_s)
            self.got.append(msg)
            self.gate.release([msg])


async def run_with_writer(
    ex: FakeExchange,
    inputs: Sequence[BackfillInput],
    gate: PageGate,
    *,
    apply_s: float = 1.0,
    concurrency: int = 4,
) -> tuple[SlowWriter, Telemetry]:
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](len(inputs))
    out_send, out_recv = trio.open_memory_channel[WriterInput](10_000)  # never the limit
    bf = Backfill(
        FakeSource(), ex, req_recv, out_send, telemetry, concurrency=concurrency, gate=gate
    )
    writer = SlowWriter(out_recv, gate, apply_s)
    for msg in inputs:
        req_send.send_nowait(msg)
    req_send.close()
    with trio.fail_after(3600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await nursery.start(bf.run)
    return writer, telemetry


@pytest.mark.parametrize("max_trades", [3000, 500])
async def test_pages_not_applied_yet_are_bounded_in_trades(
    max_trades: int, autojump_clock: trio.testing.MockClock
) -> None:
    symbols = [f"S{i}" for i in range(6)]
    ex = FakeExchange({s: make_trades(s, range(5000)) for s in symbols})
    gate = PageGate(max_trades=max_trades)
    writer, tel = await run_with_writer(ex, [GapRequest(s, 0, 4999) for s in symbols], gate)
    for s in symbols:  # all of them, each once, in order
        assert ids_of(writer.got, s) == list(range(5000))
    # the bound held and was reached; a page over the bound still went, one at a time
    assert gate.peak_trades == max(max_trades, 1000)
    assert writer.max_queued <= max(max_trades, 1000) // 1000
    assert gate.trades == 0 and gate.pages == 0
    assert tel.counters["backfill_rest_calls"] == 6 * 5


async def test_unbounded_without_a_gate_for_contrast(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The same run with nothing released: what the writer holds is what was fetched."""
    symbols = [f"S{i}" for i in range(6)]
    ex = FakeExchange({s: make_trades(s, range(5000)) for s in symbols})
    gate = PageGate(max_trades=10**9)
    writer, _ = await run_with_writer(ex, [GapRequest(s, 0, 4999) for s in symbols], gate)
    assert gate.peak_trades > 10_000 and writer.max_queued > 10


def test_subtract_ranges() -> None:
    assert subtract(0, 99, []) == [(0, 99)]
    assert subtract(0, 99, [(10, 19), (50, 200)]) == [(0, 9), (20, 49)]
    assert subtract(0, None, [(0, 9), (20, 29)]) == [(10, 19), (30, None)]
    assert subtract(5, 8, [(0, 10)]) == []
    assert subtract(5, 8, [(0, 2), (9, 10)]) == [(5, 8)]


async def test_gap_request_skips_ids_handed_to_the_writer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A re-request of a range whose pages wait in the writer's inbox fetches only the
    rest of it."""
    ex = FakeExchange({"A": make_trades("A", range(3000))})
    gate = PageGate()
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](4)
    out_send, out_recv = trio.open_memory_channel[WriterInput](100)
    bf = Backfill(FakeSource(), ex, req_recv, out_send, telemetry, gate=gate)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            await req_send.send(GapRequest("A", 0, 1999))
            await trio.sleep(1)  # virtual: both pages fetched (0.05 s each), not applied
            assert gate.pages == 2
            await req_send.send(GapRequest("A", 0, 2999, reason="retry"))
            await req_send.aclose()
    got = [m async for m in out_recv]
    assert ids_of(got, "A") == list(range(3000))
    assert [p["fromId"] for p in params(ex)] == ["0", "1000", "2000"]
    assert telemetry.counters["backfill_deduped"] == 1


async def test_cold_start_under_way_is_not_started_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """ColdStart repeated while the first one runs: ignored; once the writer applied its
    ColdStartDone, a new ColdStart is a new one."""
    ex = FakeExchange({"A": make_trades("A", range(5000))})
    gate = PageGate()
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](100)
    out_send, out_recv = trio.open_memory_channel[WriterInput](100)
    bf = Backfill(FakeSource(), ex, req_recv, out_send, telemetry, gate=gate)
    got: list[WriterInput] = []
    t0 = make_trades("A", [0])[0].trade_time
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            await req_send.send(ColdStart("A", t0, 4000))
            while not any(isinstance(m, ColdStartDone) for m in got):
                msg = await out_recv.receive()  # as slow as the fake's round trips
                got.append(msg)
                await req_send.send(ColdStart("A", t0 + 5, 3000))  # the writer asks again
                await trio.testing.wait_all_tasks_blocked()  # taken in before the next apply
                gate.release([msg])
            await req_send.send(ColdStart("A", t0, 4500))  # after done: served again
            await req_send.aclose()
            got += [m async for m in out_recv]
    assert sorted(ids_of(got, "A")) == sorted([*range(4000), *range(4500)])
    starts = [p for p in params(ex) if "startTime" in p]
    assert len(starts) == 2
    from_ids = [int(p["fromId"]) for p in params(ex) if "fromId" in p]
    assert from_ids == [1000, 2000, 3000, 1000, 2000, 3000, 4000]
    assert telemetry.counters["backfill_deduped"] == 5  # 4 pages + the done: each asked again


async def test_a_ban_is_waited_out_then_the_range_completes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """418 with a 120 s ban on the 3rd call: no call starts before it ends (no backoff
    retries into the ban), nothing is dropped, the work resumes right at its end."""
    symbols = ["A", "B", "C"]
    ex = FakeExchange({s: make_trades(s, range(3000)) for s in symbols}, ban_at=3, ban_s=120.0)
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](8)
    out_send, out_recv = trio.open_memory_channel[WriterInput](100)
    bf = Backfill(FakeSource(), ex, req_recv, out_send, telemetry, concurrency=4)
    for s in symbols:
        req_send.send_nowait(GapRequest(s, 0, 2999))
    req_send.close()
    start = trio.current_time()
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
    got = [m async for m in out_recv]
    assert ex.banned_at is not None and ex.sent_during_ban == 0
    for s in symbols:
        assert ids_of(got, s) == list(range(3000))
    after = [t for t, _ in ex.calls if t > ex.banned_at]
    assert after and min(after) >= ex.banned_until
    assert trio.current_time() - ex.banned_until < 5  # no backoff on top of the ban
    assert trio.current_time() - start >= 120
    assert telemetry.counters["backfill_rate_limited"] >= 1
    assert telemetry.counters["backfill_dropped"] == 0
    assert not [m for m in got if isinstance(m, Backfilled) and not m.trades]
