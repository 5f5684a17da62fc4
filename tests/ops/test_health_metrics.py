"""Health snapshot/publisher and the Prometheus endpoint."""

from __future__ import annotations

import time
import urllib.request

import orjson
import trio
import trio.testing

from orders_cli.health import publish_health, snapshot
from orders_cli.metrics import serve_metrics
from orders_cli.ops.status import StatusLimits, evaluate, parse_health
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry


def _telemetry() -> Telemetry:
    tel = Telemetry()
    c = tel.connection("spot#0")
    c.set("live")
    c.messages = 1000
    tel.connection("usdm#0").set("backoff", error="ConnectionClosed")
    tel.count("malformed", 2)
    tel.count("gaps_opened", 3)
    tel.latency_ms.extend([1.0, 2.0, 3.0, 100.0])
    tel.redis_state = "ok"
    tel.redis_used_memory, tel.redis_maxmemory = 90, 100
    return tel


def test_snapshot_fields() -> None:
    snap = snapshot(_telemetry(), "host-1", {"silent_symbols": ["XYZUSDT"]})
    assert snap["connections_by_state"] == {"live": 1, "backoff": 1}
    assert snap["malformed"] == 2 and snap["gaps"]["opened"] == 3
    assert snap["latency_ms"]["max"] == 100.0 and snap["latency_ms"]["samples"] == 4
    assert snap["redis"]["memory_alert"] is True
    assert snap["silent_symbols"] == ["XYZUSDT"]
    assert set(snap["rates"]["by_market"]) == {"spot", "usdm"}
    orjson.dumps(snap)  # JSON-able


def test_evaluate_connection_down_too_long() -> None:
    snap = snapshot(_telemetry(), "host-1")
    snap["connections"][1]["state_for_s"] = 120
    record = parse_health(Keyspace().health("host-1"), orjson.dumps(snap)).record
    verdict = evaluate([record], StatusLimits(max_down_s=60), int(time.time() * 1000))
    assert not verdict.healthy
    assert "usdm#0 is backoff" in verdict.problems[0]
    assert evaluate([record], StatusLimits(max_down_s=600), snap["heartbeat_ms"]).healthy


async def test_publish_health_writes_with_ttl(autojump_clock: trio.testing.MockClock) -> None:
    tel = _telemetry()
    writes: list[tuple[str, bytes, int]] = []

    async def write(key: str, value: bytes, ttl: int) -> None:
        writes.append((key, value, ttl))

    with trio.move_on_after(5.0):  # virtual time: 3 publishes at 0, 2, 4 s
        await publish_health(write, Keyspace(namespace="t:"), tel, "host-1", interval=2.0)
    assert len(writes) == 3
    key, value, ttl = writes[-1]
    assert key == "t:orders:health:host-1" and ttl == 10
    assert orjson.loads(value)["ingester_id"] == "host-1"


def test_metrics_endpoint() -> None:
    tel = _telemetry()
    server, _thread = serve_metrics(0, tel)
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.shutdown()
    assert 'orders_events_total{name="malformed"} 2.0' in body
    assert 'orders_connections{market="usdm",state="backoff"} 1.0' in body
    assert 'orders_ws_messages_total{market="spot"} 1000.0' in body
    assert "orders_redis_up 1.0" in body


def test_a_silent_endpoint_is_a_status_problem_a_metric_and_in_the_health_record() -> None:
    tel = _telemetry()
    conn = tel.connection("spot#0")
    conn.silent_alarm = "silent endpoint ws://h:1/stream?streams=x@aggTrade: no trade"
    conn.silent_alarms = 2
    snap = snapshot(tel, "host-1")
    assert snap["connections"][0]["silent_alarm"] == conn.silent_alarm
    assert snap["connections"][0]["silent_alarms"] == 2
    record = parse_health(Keyspace().health("host-1"), orjson.dumps(snap)).record
    verdict = evaluate([record], StatusLimits(max_down_s=600), snap["heartbeat_ms"])
    assert not verdict.healthy
    assert verdict.problems == (f"host-1: connection spot#0: {conn.silent_alarm}",)
    server, _thread = serve_metrics(0, tel)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.shutdown()
    assert 'orders_silent_endpoint_alarms_total{shard="spot#0"} 2.0' in body
    assert 'orders_connections{market="spot",state="silent"} 0.0' in body
