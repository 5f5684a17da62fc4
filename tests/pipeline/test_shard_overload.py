"""A slow writer must not stop a shard from answering pings; drops become one Dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.lowlevel

from orders_cli.messages import Dropped, ShardEvent, WriterInput
from orders_cli.models import Trade
from orders_cli.pipeline.outport import END_POLL_S
from orders_cli.ws.wsopen import WS_CLIENTS
from tests.pipeline.wsfake import FakeServer, make_shard, trade_frame

CAPACITY = 8


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[FakeServer]:
    srv: FakeServer = await nursery.start(FakeServer().run)
    yield srv


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_full_channel_keeps_pongs_flowing_and_reports_drops(
    server: FakeServer, nursery: trio.Nursery, ws_client: str
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](CAPACITY)
    shard = make_shard(
        server,
        send,
        ["btcusdt@aggTrade"],
        stall_timeout=30.0,
        ws_client=ws_client,
        overload_hold_s=0.0,  # the episode ends as soon as the channel drains
    )
    sent = 0
    with trio.fail_after(30):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        pings_done = trio.Event()

        async def pinger() -> None:
            await conn.ping_every(0.2, 12)
            pings_done.set()

        nursery.start_soon(pinger)
        # flood while nobody reads ``recv``: the channel is full after CAPACITY items
        while not pings_done.is_set():
            for _ in range(50):
                sent += 1
                await conn.send(trade_frame("BTCUSDT", sent))
            await trio.lowlevel.checkpoint()
        # the shard has no "caught up" event: poll its counter (bounded by fail_after)
        while shard.conn.messages < sent:  # noqa: ASYNC110 - polling a plain counter
            await trio.sleep(0.01)
        items = []
        while True:
            with trio.move_on_after(2 * END_POLL_S) as quiet:
                items.append(await recv.receive())
            if quiet.cancelled_caught:
                break

    latencies = sorted(conn.pong_latencies)
    assert len(latencies) == 12
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    assert p99 < 1.0, latencies
    assert sent > 1000
    trades = [i for i in items if isinstance(i, Trade)]
    drops = [i for i in items if isinstance(i, Dropped)]
    events = [i for i in items if isinstance(i, ShardEvent)]
    assert [e.kind for e in events] == ["connected"]
    # one overload episode: one range, reported once the channel drained
    assert len(drops) == 1 and drops[0].symbol == "BTCUSDT"
    dropped_total = sum(d.count for d in drops)
    assert dropped_total == shard.telemetry.counters["dropped_overload"]
    assert len(trades) + dropped_total == sent
    assert shard.telemetry.counters["trades_received"] == len(trades)  # delivered, not dropped
    # the dropped tail is reported, so the writer can record a gap up to the last id
    assert max(d.max_agg_id for d in drops) == sent
    # the first items filled the channel ("connected" took one slot), the rest was dropped
    assert [t.agg_id for t in trades] == list(range(1, CAPACITY))
    assert shard.conn.reconnects == 0 and len(server.conns) == 1
