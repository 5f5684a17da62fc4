"""Redis frozen (SIGSTOP) for twice the simulator's pong deadline while trades flow: the
WebSocket connection is never closed or reconnected, pongs stay fast, and after Redis
comes back everything dropped meanwhile is backfilled (Redis == truth)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
from trio_websocket import WebSocketConnection

from orders_cli.sim import SimConfig
from tests.integration.harness import Run, run_until_complete

pytestmark = pytest.mark.integration

STALL_S = 6.0
PONG_TIMEOUT_S = 3.0


def _p99(samples: list[float]) -> float:
    data = sorted(samples)
    return data[min(len(data) - 1, round(0.99 * (len(data) - 1)))]


async def test_redis_stall_keeps_the_connection_and_loses_nothing(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pong latency measured at the simulator: its pinger awaits
    # WebSocketConnection.ping(), which returns when the pong arrives. The ingester
    # never sends pings itself, so every timed ping is a simulator ping.
    rtts: list[tuple[float, float]] = []  # (sent at, round trip)
    original = WebSocketConnection.ping

    async def timed_ping(self: WebSocketConnection, payload: bytes | None = None) -> None:
        sent = trio.current_time()
        await original(self, payload)
        rtts.append((sent, trio.current_time() - sent))

    monkeypatch.setattr(WebSocketConnection, "ping", timed_ping)

    base = SimConfig.from_fixture(n_symbols=30, seed=13, total_rate=300.0)
    cfg = attrs.evolve(base, ping_interval_s=0.5, pong_timeout_s=PONG_TIMEOUT_S)
    window: list[float] = []

    async def stall(run: Run) -> None:
        await trio.sleep(2.0)
        window.append(trio.current_time())
        redis_server.pause()
        try:
            await trio.sleep(STALL_S)
        finally:
            redis_server.resume()
            window.append(trio.current_time())

    run, diff = await run_until_complete(
        cfg,
        redis_server.url,
        live_s=STALL_S + 4.0,
        settle_timeout=25.0,
        during=stall,
        channel_size=300,  # small inbox: the stall overflows it (drop + gap + backfill)
        regap_s=2.0,
    )
    assert len(window) == 2
    stats, t = run.sim.stats, run.telemetry
    assert stats["closed_pong"] == 0, dict(stats)
    assert stats["ws_connections"] == 1, dict(stats)
    assert all(c.reconnects == 0 for c in t.connections.values()), t.connections
    assert t.counters["shard_disconnects"] == 0 and t.counters["shard_stalls"] == 0
    # pongs were answered while Redis was frozen, and fast
    during = [rtt for sent, rtt in rtts if window[0] <= sent <= window[1]]
    assert len(during) >= int(STALL_S / cfg.ping_interval_s) - 2, rtts
    assert _p99([rtt for _, rtt in rtts]) < 1.0, sorted(rtt for _, rtt in rtts)[-5:]
    # the stall did overflow the inbox, and the dropped trades came back from REST
    assert t.counters["dropped_overload"] > 0, t.counters
    assert t.counters["gaps_opened"] > 0, t.counters
    assert diff.clean, diff.summary()
