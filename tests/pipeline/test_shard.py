"""Shard connection lifecycle against a local fake server (real loopback sockets, virtual
clock: see :func:`clock`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from orders_cli.messages import WriterInput
from orders_cli.models import Trade
from orders_cli.pipeline.link import SilenceGauge
from orders_cli.pipeline.shard import OutputClosed
from orders_cli.sources.base import SourceLimits
from orders_cli.sources.registry import get_source
from orders_cli.telemetry import LABELS_PER_FAMILY
from orders_cli.ws.wsopen import WS_CLIENTS
from tests.datafiles import SPOT_FRAMES
from tests.pipeline.wsfake import (
    STREAMS,
    FakeServer,
    FakeSource,
    make_shard,
    next_event,
    next_of,
    trade_frame,
)

# real seconds with no task runnable before the virtual clock jumps to the next deadline:
# loopback I/O between the shard and the fake server wakes a task far sooner than that
AUTOJUMP_S = 0.02


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time for every test here (timeouts, backoff, pacing, stall watchdog), so what
    it asserts about durations does not depend on how fast or busy the machine is.
    pytest-trio runs a test on the clock that is one of its own arguments."""
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_S)


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[FakeServer]:
    srv: FakeServer = await nursery.start(FakeServer().run)
    yield srv


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_frames_become_trades_and_malformed_is_counted(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery, ws_client: str
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, ws_client=ws_client)
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
    assert shard.telemetry.counters["trades_received"] == 2
    assert len(shard.malformed_samples) == 1 and "{not json" in shard.malformed_samples[0]
    assert shard.conn.state == "live"
    assert len(server.conns) == 1  # the malformed frame did not cost the connection


async def test_a_trade_of_a_symbol_the_connection_did_not_subscribe_is_rejected_and_counted(
    server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        await conn.send(trade_frame("XRPUSDT", 5))  # a real symbol, not on this connection
        await conn.send(trade_frame("../EVIL", 6))
        await conn.send(trade_frame("BTCUSDT", 7))
        got = await next_of(recv, Trade)
    assert isinstance(got, Trade) and (got.symbol, got.agg_id) == ("BTCUSDT", 7)
    assert shard.telemetry.counters["rejected:unsubscribed_symbol"] == 2
    assert shard.telemetry.counters["trades_received"] == 1
    assert any("../EVIL" in sample for sample in shard.malformed_samples)


async def test_event_names_from_the_server_do_not_grow_the_counters_without_bound(
    server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        for n in range(200):
            await conn.send(json.dumps({"stream": "x", "data": {"e": f"made-up-{n}"}}))
        await conn.send(trade_frame("BTCUSDT", 1))
        await next_of(recv, Trade)
    ignored = [name for name in shard.telemetry.counters if name.startswith("ignored:")]
    assert len(ignored) <= LABELS_PER_FAMILY + 1
    assert shard.telemetry.counters["ignored"] == 200
    assert sum(shard.telemetry.counters[name] for name in ignored) == 200


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_cancel_closes_cleanly_with_1000(
    clock: trio.testing.MockClock, server: FakeServer, ws_client: str
) -> None:
    send, _recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, ws_client=ws_client)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(shard.run)
            conn = await server.wait_conns(1)
            nursery.cancel_scope.cancel()
        await conn.closed.wait()
    assert conn.close_code == 1000
    assert shard.conn.state == "closed"


def sliding_max(times: list[float], window: float) -> int:
    """Most events within any half-open window of ``window`` seconds."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def test_large_subscribe_in_paced_batches(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    streams = [f"s{n:04d}usdt@aggTrade" for n in range(800)]
    send, recv = trio.open_memory_channel[WriterInput](100)
    source = FakeSource(SourceLimits(max_messages_per_second=50.0))
    shard = make_shard(server, send, streams, url_stream_limit=100, subscribe_batch=10)
    shard.source = source
    with trio.fail_after(20):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
    conn = server.conns[0]
    assert conn.url_streams == sorted(streams)[:100] or conn.url_streams == streams[:100]
    assert sorted(conn.streams) == sorted(streams)
    requests = [json.loads(m) for _, m in conn.received]
    assert [len(r["params"]) for r in requests] == [10] * 70
    assert all(r["method"] == "SUBSCRIBE" for r in requests)
    times = [t for t, _ in conn.received]
    # 40/s for a limit of 50: 70 messages can never fit in one second
    assert sliding_max(times, 1.0) <= 41
    assert times[-1] - times[0] >= 69 / 40 * 0.9
    assert shard.telemetry.counters["control_errors"] == 0


async def test_subscribe_error_is_logged_not_fatal(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    streams = ["aaa@aggTrade", "bbb@aggTrade", "ccc@aggTrade"]
    server.error_for = {"ccc@aggTrade"}
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, streams, url_stream_limit=1, subscribe_batch=1)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
        conn = server.conns[0]
        await conn.send(trade_frame("AAA", 1))
        trade = await next_of(recv, Trade)
    assert isinstance(trade, Trade) and trade.symbol == "AAA"
    assert shard.telemetry.counters["control_errors"] == 2  # the reply, the refused name
    assert shard.telemetry.counters["subscribe_refused"] == 1
    assert shard.conn.last_error is not None and "ccc@aggTrade" in shard.conn.last_error
    assert conn.streams == ["aaa@aggTrade", "bbb@aggTrade"]


async def test_one_refused_name_does_not_cost_its_batch(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    """An error reply refuses a whole SUBSCRIBE batch; the halves are subscribed again
    until the one name the server refuses is alone: every other stream is carried."""
    streams = [f"s{n}usdt@aggTrade" for n in range(20)]
    server.error_for = {"s13usdt@aggTrade"}
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, streams, url_stream_limit=1, subscribe_batch=10)
    with trio.fail_after(20):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
    conn = server.conns[0]
    assert sorted(conn.streams) == sorted(s for s in streams if s not in server.error_for)
    assert shard.telemetry.counters["subscribe_refused"] == 1
    assert "s13usdt@aggTrade" in (shard.conn.last_error or "")
    extra = len(conn.received) - 2  # the two batches of the url-less streams
    assert extra <= 2 * 4  # halving 10 down to 1: at most two requests per level


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_abort_reconnects_and_resubscribes(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery, ws_client: str
) -> None:
    streams = ["aaa@aggTrade", "bbb@aggTrade", "ccc@aggTrade"]
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, streams, url_stream_limit=2, ws_client=ws_client)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
        first = server.conns[0]
        await first.abort()
        await next_event(recv, "disconnected")
        event = await next_event(recv, "connected")
        second = await server.wait_conns(2)
        await second.send(trade_frame("CCC", 5))
        trade = await next_of(recv, Trade)
    assert event.symbols == ("AAA", "BBB", "CCC")
    assert second.url_streams == streams[:2] and second.subscribed == streams[2:]
    assert isinstance(trade, Trade) and trade.agg_id == 5
    assert shard.conn.reconnects == 1 and shard.conn.last_error is not None


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_rejected_handshake_backs_off_and_retries(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery, ws_client: str
) -> None:
    server.refuse = 3
    send, _recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, ws_client=ws_client)
    with trio.fail_after(10):
        await nursery.start(shard.run)
    assert shard.conn.reconnects == 3
    assert shard.budget.available() == 100 - 4
    assert len(server.conns) == 1


async def test_stall_reconnects_that_connection(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, stall_timeout=0.3)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
        await next_event(recv, "stalled")
        await next_event(recv, "connected")
        await server.conns[0].closed.wait()
    assert len(server.conns) == 2
    assert shard.telemetry.counters["shard_stalls"] >= 1
    assert shard.conn.last_error is not None and "ShardStalled" in shard.conn.last_error


async def test_add_and_remove_streams_live(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, ["aaa@aggTrade"])
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
        conn = server.conns[0]
        await shard.add_streams(["bbb@aggTrade", "ccc@aggTrade", "aaa@aggTrade"])
        assert conn.streams == ["aaa@aggTrade", "bbb@aggTrade", "ccc@aggTrade"]
        await shard.remove_streams(["aaa@aggTrade"])
        assert conn.streams == ["bbb@aggTrade", "ccc@aggTrade"]
        assert shard.streams == ["bbb@aggTrade", "ccc@aggTrade"]
        assert shard.symbols() == ("BBB", "CCC")
        # a reconnect opens with the current set
        await conn.abort()
        await next_event(recv, "connected")
    assert server.conns[1].url_streams == ["bbb@aggTrade", "ccc@aggTrade"]
    methods = [json.loads(m)["method"] for _, m in conn.received]
    assert methods == ["SUBSCRIBE", "UNSUBSCRIBE"]


async def test_closed_writer_channel_is_not_a_reconnect(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send)
    recv.close()
    with trio.fail_after(10), pytest.RaisesGroup(OutputClosed, flatten_subgroups=True):
        await shard.run()
    assert len(server.conns) == 1


@pytest.mark.parametrize(("healthy_after", "attempts"), [(0.05, 1), (100.0, 2)])
async def test_backoff_resets_only_after_a_healthy_connection(
    clock: trio.testing.MockClock,
    server: FakeServer,
    nursery: trio.Nursery,
    healthy_after: float,
    attempts: int,
) -> None:
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, healthy_after=healthy_after)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        for n in (1, 2):
            conn = await server.wait_conns(n)
            await next_event(recv, "connected")
            await trio.sleep(0.1)  # connection age, compared with healthy_after
            await conn.abort()
            await next_event(recv, "disconnected")
        await next_event(recv, "connected")
    assert shard.backoff.attempts == attempts


FIXTURE = SPOT_FRAMES
FRAMES = FIXTURE.read_text().splitlines()[:200]


async def test_real_spot_source_and_recorded_frames(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    frames = FRAMES
    expected = [json.loads(f)["data"]["a"] for f in frames]
    streams = [*sorted({json.loads(f)["stream"] for f in frames}), "币安人生usdt@aggTrade"]
    send, recv = trio.open_memory_channel[WriterInput](1000)
    shard = make_shard(server, send, streams)
    shard.source = get_source("spot")
    with trio.fail_after(10):
        await nursery.start(shard.run)
        event = await next_event(recv, "connected")
        conn = server.conns[0]
        for frame in frames:
            await conn.send(frame)
        got = [await next_of(recv, Trade) for _ in frames]
    assert conn.url_streams == streams  # percent-encoded in the URL, decoded by the server
    assert "币安人生USDT" in event.symbols
    assert [t.agg_id for t in got if isinstance(t, Trade)] == expected


async def test_add_streams_on_a_dying_connection_does_not_raise(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    server.reply = False
    send, _recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, ["aaa@aggTrade"], reply_timeout=5.0)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        async with trio.open_nursery() as inner:
            inner.start_soon(shard.add_streams, [f"s{n}@aggTrade" for n in range(600)])
            await conn.abort()  # while the paced SUBSCRIBE batches are going out
        second = await server.wait_conns(2)
    # the replacement connection opens with the new streams (the rest follow by SUBSCRIBE)
    assert second.url_streams == shard.streams[:200]
    assert len(shard.streams) == 601


@pytest.mark.parametrize("took_effect", [True, False])
async def test_subscribe_without_reply_is_confirmed_or_sent_again(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery, took_effect: bool
) -> None:
    """A SUBSCRIBE whose reply is lost may or may not have taken effect: the shard asks
    LIST_SUBSCRIPTIONS and subscribes again only what the server does not carry."""
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, reply_timeout=0.5)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        server.lose_subscribe_replies = 1
        server.ignore_subscribes = 0 if took_effect else 1
        await shard.add_streams(["newusdt@aggTrade"])
        assert "newusdt@aggTrade" in conn.streams
        await conn.send(trade_frame("NEWUSDT", 5))
        trade = await next_of(recv, Trade)
    assert isinstance(trade, Trade) and trade.symbol == "NEWUSDT"
    methods = [json.loads(m)["method"] for _, m in conn.received]
    again = [] if took_effect else ["SUBSCRIBE"]  # the second one is answered
    assert methods == ["SUBSCRIBE", "LIST_SUBSCRIPTIONS", *again]
    counters = shard.telemetry.counters
    assert counters["subscribe_confirmed"] == (1 if took_effect else 0)
    assert counters["subscribe_retried"] == (0 if took_effect else 1)
    assert counters["control_errors"] == 0


async def test_subscribe_never_confirmed_is_reported_not_fatal(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    server.reply = False  # no reply to anything, LIST_SUBSCRIPTIONS included
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, reply_timeout=0.3)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        await shard.add_streams(["newusdt@aggTrade"])
        await conn.send(trade_frame("BTCUSDT", 7))  # the connection still works
        await next_of(recv, Trade)
    assert shard.telemetry.counters["control_errors"] == 1
    assert "unconfirmed" in (shard.conn.last_error or "")


async def test_handshake_url_stays_under_8kb_with_long_stream_names(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    """200 streams of CJK names (9 bytes per character percent-encoded) make a ~15 KB
    request line; common servers refuse lines over 8 KB (docs/binance.md §1.2) and a refused
    handshake is retried forever. The URL carries what fits; SUBSCRIBE carries the rest."""
    server.max_target = 8000
    streams = [f"币安人生{n:03d}usdt@aggTrade" for n in range(200)]
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = make_shard(server, send, streams, url_stream_limit=200)
    with trio.fail_after(10):
        await nursery.start(shard.run)
        await next_event(recv, "connected")
    conn = server.conns[-1]
    assert len(server.conns) == 1
    assert 0 < len(conn.url_streams) < 200
    assert sorted(conn.streams) == sorted(streams)


def test_silence_gauge_follows_the_connection_s_own_pace() -> None:
    g = SilenceGauge(60.0)
    assert g.allowed() == 60.0  # nothing known: the stall timeout
    for n in range(50):  # busy: batches 10 ms apart
        g.arrived(n * 0.01)
    assert g.allowed() == 60.0
    quiet = SilenceGauge(60.0)
    for n in range(50):  # a message every 20 s: normal for it, 20x that is allowed
        quiet.arrived(n * 20.0)
    assert quiet.allowed() == 400.0
    for n in range(50):  # every 5 minutes: capped at 10x the stall timeout
        quiet.arrived(1000.0 + n * 300.0)
    assert quiet.allowed() == 600.0
    quiet.restart(1e9)  # a reconnect: the time across it is not a gap
    quiet.arrived(1e9 + 1.0)
    assert quiet.allowed() == 600.0
    busy = SilenceGauge(60.0)
    busy.silent_for(60.0)  # a stall: it may be a quiet connection after all
    assert busy.allowed() == 600.0
    busy.restart(0.0)
    for n in range(1, 200):  # busy again: back to the stall timeout
        busy.arrived(n * 0.01)
    assert busy.allowed() == 60.0


async def test_a_quiet_connection_is_not_a_stall(
    clock: trio.testing.MockClock, server: FakeServer, nursery: trio.Nursery
) -> None:
    """Messages 0.3 s apart with a stall timeout of 0.1 s: at most the first silence (the
    pace is not known yet) counts as a stall; a real stall is still caught, after at most
    10x the timeout."""
    send, recv = trio.open_memory_channel[WriterInput](1000)
    shard = make_shard(server, send, stall_timeout=0.1)
    with trio.fail_after(20):
        await nursery.start(shard.run)
        for n in range(12):
            await trio.sleep(0.3)
            if server.conns and not server.conns[-1].closed.is_set():
                await server.conns[-1].send(trade_frame("AAA", n + 1))
        assert shard.telemetry.counters["shard_stalls"] <= 1
        while True:  # what came so far (trades, the first stall if any)
            try:
                recv.receive_nowait()
            except trio.WouldBlock:
                break
        start = trio.current_time()
        await next_event(recv, "stalled")  # the server has gone silent
        # the last frame came just before ``start``: caught at 10x the timeout, to the tick
        assert trio.current_time() - start == pytest.approx(1.0)
