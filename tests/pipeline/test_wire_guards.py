"""Out-of-range values are counted where they enter (a live frame, a REST page) and never
reach the writer; a host clock far from the exchange's event times is warned about, once
per episode, and never costs a trade."""

from __future__ import annotations

import json
import logging
import random
import time

import orjson
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from orders_cli.cli.render_run import panel
from orders_cli.health import snapshot
from orders_cli.messages import (
    Backfilled,
    BackfillInput,
    ExchangeHole,
    GapRequest,
    WriterInput,
)
from orders_cli.metrics import TelemetryCollector
from orders_cli.models import Event, Trade
from orders_cli.ops.status import StatusLimits, evaluate, parse_health
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.clockwatch import ClockWatch
from orders_cli.pipeline.connect_budget import ConnectBudget
from orders_cli.pipeline.shard import Shard
from orders_cli.retry import Backoff
from orders_cli.sources.base import RestRequest
from orders_cli.sources.binance.wire import parse_frame
from orders_cli.sources.registry import get_source
from orders_cli.telemetry import Telemetry
from tests.pipeline.wsfake import FakeServer, FakeSource, trade_frame

NOW = 1_700_000_000_000


@given(
    st.integers(min_value=-60_000, max_value=60_000),
    st.lists(st.integers(min_value=0, max_value=30_000), min_size=1, max_size=20),
)
def test_the_offset_is_the_lowest_lag_of_a_window_and_drift_is_beyond_5s(
    offset: int, latencies: list[int]
) -> None:
    watch = ClockWatch(window_s=10.0)
    closed = [
        watch.observe(NOW, NOW + offset + lat, now=i * 10.0 / len(latencies))
        for i, lat in enumerate(latencies)
    ]
    assert not any(closed)  # the window is still open
    assert watch.observe(NOW, NOW + offset + max(latencies), now=10.0)
    assert watch.offset_ms == offset + min(latencies)
    assert watch.drifting == (abs(offset + min(latencies)) > 5_000)


def test_one_late_frame_is_not_a_clock_offset_but_a_late_window_is() -> None:
    watch = ClockWatch(window_s=10.0)
    for i, lag in enumerate([40, 9_000, 60]):
        watch.observe(NOW, NOW + lag, now=float(i))
    watch.observe(NOW, NOW + 50, now=10.0)
    assert (watch.offset_ms, watch.drifting) == (40, False)
    for i, lag in enumerate([7_000, 9_000]):
        watch.observe(NOW, NOW + lag, now=20.0 + i)
    watch.observe(NOW, NOW + 8_000, now=30.0)
    assert (watch.offset_ms, watch.drifting) == (7_000, True)


class WireSource(FakeSource):
    """The fake server's framing with the real Binance parser."""

    def parse(self, raw: str | bytes) -> list[Event]:
        return parse_frame(raw)


async def test_a_shard_counts_out_of_range_frames_and_warns_once_about_the_clock(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orders_cli.pipeline.clockwatch")
    server: FakeServer = await nursery.start(FakeServer().run)
    send, recv = trio.open_memory_channel[WriterInput](100)
    shard = Shard(
        "spot#0",
        WireSource(),
        server.url,
        ["btcusdt@aggTrade"],
        send,
        Telemetry(),
        ConnectBudget(100),
        backoff=Backoff(0.01, 0.05, rng=random.Random(1)),
        close_timeout=1.0,
        clock_watch=ClockWatch(window_s=0.0),
    )
    ahead = int(time.time() * 1000) + 60_000  # the exchange 60 s ahead of this host
    poisoned = json.loads(trade_frame("BTCUSDT", 11))
    poisoned["data"]["T"] *= 1_000_000  # nanoseconds
    with trio.fail_after(10):
        await nursery.start(shard.run)
        conn = await server.wait_conns(1)
        await conn.send(trade_frame("BTCUSDT", 10, t=ahead))
        await conn.send(json.dumps(poisoned))
        await conn.send(trade_frame("BTCUSDT", 12, t=ahead))
        got = []
        while len(got) < 2:
            item = await recv.receive()
            if isinstance(item, Trade):
                got.append(item.agg_id)
        now = int(time.time() * 1000)
        await conn.send(trade_frame("BTCUSDT", 13, t=now))
        while True:
            item = await recv.receive()
            if isinstance(item, Trade):
                break
    counters = shard.telemetry.counters
    assert got == [10, 12]  # the clock never costs a trade; the poisoned one never passes
    assert (counters["malformed"], counters["out_of_range"]) == (1, 1)
    assert counters["clock_offset_episodes"] == 1
    assert shard.conn.clock_offset_ms is not None and abs(shard.conn.clock_offset_ms) < 5_000
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "host clock is -6" in warned[0].getMessage()
    assert any("back within" in r.getMessage() for r in caplog.records)


class PoisonedPage:
    """aggTrades: ids 0..4, id 2 with T in nanoseconds."""

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        await trio.lowlevel.checkpoint()
        rows = [
            {"a": i, "p": "1.5", "q": "2", "f": i, "l": i, "T": NOW + i, "m": False}
            for i in range(5)
        ]
        rows[2]["T"] = (NOW + 2) * 1_000_000
        return orjson.dumps(rows)


async def test_a_backfill_page_with_one_poisoned_trade_keeps_the_rest_and_records_a_hole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](1)
    out_send, out_recv = trio.open_memory_channel[WriterInput](8)
    backfill = Backfill(get_source("spot"), PoisonedPage(), req_recv, out_send, telemetry)
    req_send.send_nowait(GapRequest("BTCUSDT", 0, 4))
    req_send.close()
    got: list[WriterInput] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(backfill.run)
            async for msg in out_recv:
                got.append(msg)
    stored = [t.agg_id for m in got if isinstance(m, Backfilled) for t in m.trades]
    holes = [(m.first, m.last) for m in got if isinstance(m, ExchangeHole)]
    assert (stored, holes) == ([0, 1, 3, 4], [(2, 2)])
    assert telemetry.counters["out_of_range"] == 1


def test_the_clock_offset_and_out_of_range_count_show_in_panel_status_and_metrics() -> None:
    tel = Telemetry()
    tel.redis_state = "ok"  # an unconfirmed Redis is a problem of its own (status honest)
    tel.connection("spot#0").set("live")
    tel.connection("spot#0").clock_offset_ms = 12_300
    tel.count("malformed", 3)
    tel.count("out_of_range", 2)
    console = Console(width=200, record=True)
    console.print(panel(tel, 0.0, "orders run"))
    text = console.export_text()
    assert "out of range 2" in text and "host +12.3s off" in text
    snap = snapshot(tel, "host-1")
    assert snap["out_of_range"] == 2 and snap["connections"][0]["clock_offset_ms"] == 12_300
    record = parse_health("orders:health:host-1", orjson.dumps(snap)).record
    verdict = evaluate([record], StatusLimits(), snap["heartbeat_ms"])
    assert verdict.healthy and any("+12.3s off" in w for w in verdict.warnings)
    metrics = {m.name: m for m in TelemetryCollector(tel).collect()}
    (sample,) = metrics["orders_clock_offset_ms"].samples
    assert (sample.labels, sample.value) == ({"shard": "spot#0"}, 12_300.0)
    events = {s.labels["name"]: s.value for s in metrics["orders_events"].samples}
    assert events["out_of_range"] == 2.0
