"""Shard connection lifecycle against a local fake server (real sockets, real clock)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import pytest
import trio

from orders_cli.models import Trade
from orders_cli.pipeline.backoff import Backoff, ConnectBudget
from orders_cli.pipeline.messages import ShardEvent, WriterInput
from orders_cli.pipeline.shard import Shard
from orders_cli.telemetry import Telemetry
from wsfake import FakeServer, FakeSource, trade_frame

STREAMS = ["btcusdt@aggTrade", "ethusdt@aggTrade", "bnbusdt@aggTrade"]


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[FakeServer]:
    srv: FakeServer = await nursery.start(FakeServer().run)
    yield srv


def make_shard(
    server: FakeServer,
    out: trio.MemorySendChannel[WriterInput],
    streams: list[str] = STREAMS,
    **kw: object,
) -> Shard:
    kw.setdefault("backoff", Backoff(0.01, 0.05, rng=random.Random(1)))
    kw.setdefault("close_timeout", 1.0)
    return Shard(
        "fake#0",
        FakeSource(),
        server.url,
        streams,
        out,
        Telemetry(),
        ConnectBudget(100),
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]  # test helper forwards keyword options
    )


async def next_of(recv: trio.MemoryReceiveChannel[WriterInput], kind: type) -> WriterInput:
    while True:
        item = await recv.receive()
        if isinstance(item, kind):
            return item


async def next_event(recv: trio.MemoryReceiveChannel[WriterInput], kind: str) -> ShardEvent:
    while True:
        item = await recv.receive()
        if isinstance(item, ShardEvent) and item.kind == kind:
            return item


async def test_frames_become_trades_and_malformed_is_counted(
    server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        connected = await next_event(recv, "connected")
        assert connected.symbols == ("BTCUSDT", "ETHUSDT", "BNBUSDT")
        conn = await server.wait_conns(1)
        assert conn.url_streams == STREAMS
        await conn.send(trade_frame("BTCUSDT", 10))
        await conn.send("{not json")
        await conn.send(json.dumps({"stream": "x", "data": {"e": "kline"}}))
        await conn.send(trade_frame("BTCUSDT", 11))
        first = await next_of(recv, Trade)
        second = await next_of(recv, Trade)
    assert isinstance(first, Trade) and isinstance(second, Trade)
    assert (first.agg_id, second.agg_id) == (10, 11)
    assert shard.telemetry.counters["malformed"] == 1
    assert shard.telemetry.counters["ignored:event:kline"] == 1
    assert len(shard.malformed_samples) == 1 and "{not json" in shard.malformed_samples[0]
    assert shard.conn.state == "live"
    assert len(server.conns) == 1  # the malformed frame did not cost the connection


async def test_cancel_closes_cleanly_with_1000(server: FakeServer) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(shard.run)
            conn = await server.wait_conns(1)
            nursery.cancel_scope.cancel()
        await conn.closed.wait()
    assert conn.close_code == 1000
    assert shard.conn.state == "closed"
