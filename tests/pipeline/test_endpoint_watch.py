"""A silent endpoint: subscriptions confirmed, no data, while REST shows new trades of the
connection's symbols -> reported loudly and reconnected (pipeline/endpoint_watch.py).
A fake WebSocket server that confirms subscriptions and sends nothing, a fake aggTrades
endpoint whose head moves on, the real USD-M source, virtual time."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from orders_cli.messages import BackfillInput, HeadCheck, WriterInput
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.connect_budget import ConnectBudget
from orders_cli.pipeline.endpoint_watch import EndpointWatch
from orders_cli.pipeline.shard import Shard
from orders_cli.retry import Backoff
from orders_cli.sources.binance.usdm import USDM
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import FakeExchange, make_trades
from tests.pipeline.wsfake import FakeServer, trade_frame

GRACE_S = 10.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[FakeServer]:
    srv: FakeServer = await nursery.start(FakeServer().run)
    yield srv


async def _drain(recv: trio.MemoryReceiveChannel[WriterInput]) -> None:
    async for _ in recv:
        pass


class Rig:
    """A USD-M shard on ``server`` (host base only: the source adds ``/market``), a
    backfill on a fake aggTrades endpoint, and the watch between them."""

    def __init__(self, server: FakeServer, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.telemetry = Telemetry()
        send, recv = trio.open_memory_channel[WriterInput](1000)
        nursery.start_soon(_drain, recv)
        self.shard = Shard(
            "usdm#0",
            USDM,
            server.url,
            ["btcusdt@aggTrade", "ethusdt@aggTrade"],
            send,
            self.telemetry,
            ConnectBudget(100),
            stall_timeout=3600.0,  # the stall watchdog is not what finds it
            backoff=Backoff(0.01, 0.05, rng=random.Random(1)),
            close_timeout=1.0,
            rng=random.Random(7),
        )
        self.exchange = FakeExchange(
            {s: make_trades(s, range(1, 101)) for s in ("BTCUSDT", "ETHUSDT")}
        )
        self.watch = EndpointWatch(lambda: [self.shard], grace_s=GRACE_S)
        self.requests, req_recv = trio.open_memory_channel[BackfillInput](100)
        out_send, out_recv = trio.open_memory_channel[WriterInput](1000)
        nursery.start_soon(_drain, out_recv)
        self.answered = trio.Event()
        self.backfill = Backfill(
            USDM, self.exchange, req_recv, out_send, self.telemetry, on_head=self._on_head
        )

    def _on_head(self, symbol: str, agg_id: int, asked_at: float) -> None:
        self.watch.head_seen(symbol, agg_id, asked_at)
        self.answered.set()

    async def start(self) -> None:
        await self.nursery.start(self.shard.run)
        await self.nursery.start(self.backfill.run)
        self.nursery.start_soon(self.watch.run)

    async def head_check(self, reason: str) -> None:
        self.answered = trio.Event()
        self.requests.send_nowait(HeadCheck(("BTCUSDT",), reason=reason))
        await self.answered.wait()

    def trade_on_rest(self, first: int, last: int) -> None:
        self.exchange.trades["BTCUSDT"] += make_trades("BTCUSDT", range(first, last + 1))


async def test_a_connection_that_confirms_subscriptions_and_sends_nothing_is_declared_silent_and_reconnected(  # noqa: E501  # a sentence
    clock: trio.testing.MockClock,
    server: FakeServer,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(server, nursery)
    caplog.set_level(logging.WARNING)
    with trio.fail_after(120):
        await rig.start()
        conn = await server.wait_conns(1)
        assert conn.path.startswith("/market/stream?streams=btcusdt@aggTrade")
        await rig.head_check("reconnect")  # the baseline: REST's head when it went live
        await trio.sleep(30)
        rig.trade_on_rest(101, 104)  # trades after the connection went live
        await rig.head_check("silence")
        seen_at = trio.current_time()
        assert rig.telemetry.counters["silent_endpoints"] == 0  # the grace first
        await server.wait_conns(2)
    assert trio.current_time() - seen_at <= GRACE_S + 1.5
    assert rig.telemetry.counters["silent_endpoints"] == 1
    alarm = rig.shard.conn.silent_alarm
    assert alarm is not None and rig.shard.conn.silent_alarms == 1
    assert f"{server.url}/market/stream?streams=" in alarm and "BTCUSDT trades 101..104" in alarm
    assert "SilentEndpoint" in (rig.shard.conn.last_error or "")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("usdm#0: silent endpoint ws://127.0.0.1:" in m for m in warned), warned
    await conn.closed.wait()


async def test_a_connection_that_delivers_trades_is_not_silent(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    rig = Rig(server, nursery)
    with trio.fail_after(120):
        await rig.start()
        conn = await server.wait_conns(1)
        await rig.head_check("reconnect")
        await conn.send(trade_frame("BTCUSDT", 101))
        rig.trade_on_rest(101, 104)
        await rig.head_check("silence")
        await trio.sleep(5 * GRACE_S)
    assert rig.telemetry.counters["silent_endpoints"] == 0
    assert len(server.conns) == 1 and rig.shard.conn.silent_alarm is None


async def test_trades_from_before_the_connection_went_live_are_no_evidence(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    """The reconnect's own head check finds the tail lost while it was down: that is a gap
    to fill, not a silent endpoint; only a head above it (asked after live) is."""
    rig = Rig(server, nursery)
    with trio.fail_after(120):
        await rig.start()
        await server.wait_conns(1)
        await rig.head_check("reconnect")
        await rig.head_check("sweep")  # same head: nothing new
        await trio.sleep(5 * GRACE_S)
    assert rig.telemetry.counters["silent_endpoints"] == 0
    assert len(server.conns) == 1
