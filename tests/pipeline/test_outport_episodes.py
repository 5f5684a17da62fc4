"""Overload episodes of a shard's OutPort: once a symbol drops, it is dropped as one id
range (one ``Dropped``) until the channel drained below its low mark AND the hold passed.
A channel of 8 items (low mark 4); trio's MockClock."""

from __future__ import annotations

import trio
import trio.testing

from orders_cli.messages import Dropped, WriterInput
from orders_cli.models import Trade
from orders_cli.pipeline.outport import END_POLL_S, OutPort
from orders_cli.telemetry import Telemetry

HOLD = 20.0
SIZE = 8


def trade(symbol: str, agg_id: int) -> Trade:
    return Trade(symbol, agg_id, "1.0", "1.0", agg_id, agg_id, 1000 + agg_id, False, 1000 + agg_id)


def port() -> tuple[OutPort, trio.MemoryReceiveChannel[WriterInput]]:
    send, recv = trio.open_memory_channel[WriterInput](SIZE)
    return OutPort("t#0", send, Telemetry(), hold_s=HOLD), recv


def full_port() -> tuple[OutPort, trio.MemoryReceiveChannel[WriterInput]]:
    """A port whose channel B's trades 1..8 filled."""
    out, recv = port()
    for i in range(1, SIZE + 1):
        assert out.deliver(trade("B", i))
    return out, recv


def take(recv: trio.MemoryReceiveChannel[WriterInput], n: int) -> list[WriterInput]:
    return [recv.receive_nowait() for _ in range(n)]


def ids(items: list[WriterInput], symbol: str) -> list[int]:
    return [i.agg_id for i in items if isinstance(i, Trade) and i.symbol == symbol]


async def test_a_dropping_symbol_stays_dropped_with_room_until_the_hold_passes_then_one_range(
    mock_clock: trio.testing.MockClock,
) -> None:
    out, recv = full_port()
    assert not out.deliver(trade("A", 1))  # the channel is full: A's episode begins
    take(recv, SIZE)  # the writer drained everything: room again
    mock_clock.jump(HOLD / 2)
    assert not out.deliver(trade("A", 2))  # room, but A is still in its episode
    assert not out.deliver(trade("A", 3))
    assert out.deliver(trade("B", 9))  # B never dropped: it flows
    mock_clock.jump(HOLD / 2)
    assert out.deliver(trade("A", 4))  # hold passed, channel low: the episode ends
    items = take(recv, 3)
    assert items == [trade("B", 9), Dropped("A", 3, 3), trade("A", 4)]
    assert out.telemetry.counters["dropped_overload"] == 3
    assert out.episodes == 1 and out.dropping() == []


async def test_an_episode_outlives_its_hold_while_the_channel_stays_above_the_low_mark(
    mock_clock: trio.testing.MockClock,
) -> None:
    out, recv = full_port()
    assert not out.deliver(trade("A", 1))
    take(recv, 3)  # 5 left: above the low mark (4)
    mock_clock.jump(HOLD * 3)
    assert not out.deliver(trade("A", 2))
    take(recv, 1)  # 4 left: at the low mark
    assert out.deliver(trade("A", 3))
    assert take(recv, 6)[-2:] == [Dropped("A", 2, 2), trade("A", 3)]


async def test_a_dropped_tail_is_reported_once_the_hold_passes_without_another_trade(
    autojump_clock: trio.testing.MockClock,
) -> None:
    out, recv = full_port()
    out.deliver(trade("A", 7))
    out.deliver(trade("A", 5))  # ids may come out of order: the range goes to the highest
    take(recv, SIZE)
    with trio.fail_after(HOLD * 2):
        async with trio.open_nursery() as n:
            n.start_soon(out.report_drops)
            start = trio.current_time()
            got = await recv.receive()
            waited = trio.current_time() - start
            n.cancel_scope.cancel()
    assert got == Dropped("A", 7, 2)
    assert HOLD <= waited <= HOLD + END_POLL_S
    assert out.dropping() == []


async def test_episodes_of_one_symbol_begin_at_least_a_hold_apart_under_lasting_overload(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A writer that takes only 4 items a second while 8 a second are offered: the symbol
    drops in few long ranges, and every id is either delivered or inside one reported
    range, each range contiguous with the delivered ids around it."""
    out, recv = port()
    got: list[WriterInput] = []
    next_id = 1
    for _second in range(120):
        for _ in range(8):
            out.deliver(trade("A", next_id))
            next_id += 1
        for _ in range(4):
            try:
                got.append(recv.receive_nowait())
            except trio.WouldBlock:
                break
        mock_clock.jump(1.0)
    drops = [g for g in got if isinstance(g, Dropped)]
    assert 1 < len(drops) <= 120 / HOLD + 1
    # rebuild the id sequence: delivered ids plus each reported range, no hole, no overlap
    covered: list[int] = []
    for g in got:
        if isinstance(g, Dropped):
            before = len(covered)
            covered.extend(range(covered[-1] + 1 if covered else 1, g.max_agg_id + 1))
            assert g.count == len(covered) - before  # the range is exactly what was dropped
        elif isinstance(g, Trade):
            covered.append(g.agg_id)
    assert covered == list(range(1, len(covered) + 1))
