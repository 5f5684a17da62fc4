"""Rotation with overlap: on serverShutdown and by connection age; nothing lost."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import trio
from trio_websocket import ConnectionClosed

from orders_cli.messages import WriterInput
from orders_cli.models import Trade
from tests.pipeline.wsfake import FakeConn, FakeServer, make_shard, next_event, trade_frame


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[FakeServer]:
    srv: FakeServer = await nursery.start(FakeServer().run)
    yield srv


async def feed(
    server: FakeServer,
    stop: trio.Event,
    sent: list[int],
    marks: dict[int, trio.Event] | None = None,
) -> None:
    """Send consecutive ids to every open connection, like the exchange would; set
    ``marks[n]`` once ``n`` ids were sent."""
    agg_id = 0
    while not stop.is_set():
        agg_id += 1
        for conn in list(server.conns):
            if conn.closed.is_set():
                continue
            with contextlib.suppress(ConnectionClosed):
                await conn.send(trade_frame("BTCUSDT", agg_id))
        sent.append(agg_id)
        if marks is not None and agg_id in marks:
            marks[agg_id].set()
        await trio.sleep(0.002)


async def test_server_shutdown_rotates_with_overlap_and_loses_nothing(
    server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](10_000)
    shard = make_shard(server, send, ["btcusdt@aggTrade"])
    ids: set[int] = set()
    sent: list[int] = []
    stop = trio.Event()
    marks = {n: trio.Event() for n in (20, 400)}
    shutdown = {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1}}
    with trio.fail_after(10):
        await nursery.start(shard.run)
        old = await server.wait_conns(1)
        async with trio.open_nursery() as inner:
            inner.start_soon(feed, server, stop, sent, marks)
            await marks[20].wait()
            await old.send(json.dumps(shutdown))
            new: FakeConn = await server.wait_conns(2)
            # the replacement was accepted while the old connection was still open
            assert not old.closed.is_set()
            await old.closed.wait()
            closed_at = len(sent)
            await marks[400].wait()
            stop.set()
        last = max(sent)
        while last not in ids:  # the new connection delivers in order: wait for the last id
            item = await recv.receive()
            if isinstance(item, Trade):
                ids.add(item.agg_id)
    assert old.close_code == 1000
    assert 20 < closed_at < 400  # frames flowed before, during and after the switch
    assert not new.closed.is_set()
    assert ids == set(range(1, last + 1))
    assert shard.telemetry.counters["rotations"] == 1
    assert shard.telemetry.counters["server_shutdown"] == 1
    assert shard.conn.reconnects == 0


async def test_rotation_by_age_emits_rotated(server: FakeServer, nursery: trio.Nursery) -> None:
    send, recv = trio.open_memory_channel[WriterInput](10_000)
    shard = make_shard(server, send, ["btcusdt@aggTrade"], rotate_after=0.4)
    stop = trio.Event()
    sent: list[int] = []
    with trio.fail_after(10):
        await nursery.start(shard.run)
        started = trio.current_time()
        nursery.start_soon(feed, server, stop, sent)
        await next_event(recv, "connected")
        event = await next_event(recv, "rotated")
        elapsed = trio.current_time() - started
        await server.conns[0].closed.wait()
        stop.set()
    assert 0.4 * 0.9 - 0.05 <= elapsed < 2.0
    assert event.symbols == ("BTCUSDT",)
    assert server.conns[0].close_code == 1000
    assert len(server.conns) == 2 and not server.conns[1].closed.is_set()


async def test_failed_rotation_keeps_the_old_connection(
    server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](10_000)
    shard = make_shard(server, send, ["btcusdt@aggTrade"], rotate_after=0.3, overlap_timeout=0.2)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
        server.refuse = 1  # the first replacement attempt is rejected
        await next_event(recv, "rotated")
        await server.conns[0].closed.wait()
    assert shard.telemetry.counters["rotation_failures"] == 1
    assert shard.telemetry.counters["rotations"] == 1
    assert shard.conn.reconnects == 0 and shard.conn.state == "live"
    assert server.conns[0].close_code == 1000


@pytest.mark.parametrize("refuse", [0, 1])
async def test_old_connection_dying_during_rotation_asks_for_head_check(
    server: FakeServer, nursery: trio.Nursery, refuse: int
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](10_000)
    shard = make_shard(server, send, ["btcusdt@aggTrade"], overlap_timeout=0.2)
    shutdown = {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1}}
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
        old = server.conns[0]
        server.refuse = refuse  # 1: the replacement fails too, a plain reconnect follows
        await old.send(json.dumps(shutdown))
        await old.abort()
        event = await next_event(recv, "connected")
    assert event.symbols == ("BTCUSDT",)
    assert len(server.conns) == 2
    assert shard.conn.reconnects == refuse


async def test_shutdown_during_subscribe_then_death_is_a_reconnect(
    server: FakeServer, nursery: trio.Nursery
) -> None:
    """serverShutdown then a drop before the connection was live: retried, not a crash."""
    server.reply = False  # SUBSCRIBE replies never come: the shard is stuck subscribing
    send, _recv = trio.open_memory_channel[WriterInput](100)
    streams = ["aaa@aggTrade", "bbb@aggTrade"]
    shard = make_shard(server, send, streams, url_stream_limit=1, reply_timeout=5.0)
    shutdown = {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1}}
    with trio.fail_after(10):
        async with trio.open_nursery() as inner:
            inner.start_soon(shard.run)
            first = await server.wait_conns(1)
            await first.send(json.dumps(shutdown))
            await first.abort()
            await server.wait_conns(2)
            assert shard.conn.reconnects == 1
            inner.cancel_scope.cancel()
