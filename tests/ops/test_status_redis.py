"""`orders status` diagnoses Redis itself (INFO) and sees the ingester by its named
connection (CLIENT LIST): while Redis refuses writes the ingester's health key goes stale
or missing, and status must say "ingester alive, Redis refusing writes", never HEALTHY."""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson
import pytest

from orders_cli.cli.render_run import redis_cell
from orders_cli.health import snapshot
from orders_cli.metrics import TelemetryCollector
from orders_cli.ops.status import (
    HealthRecord,
    RedisDiagnosis,
    StatusLimits,
    evaluate,
    parse_health,
)
from orders_cli.redis_conn import ingester_name, name_connections, named_ingesters
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry
from tests.redis_server import RedisServer
from tests.store.redis_faults import failing_persistence, out_of_memory, replica_of

KS = Keyspace()
MIB = 2**20


def status(capfd: pytest.CaptureFixture[str], url: str) -> tuple[int, dict[str, Any]]:
    """``orders status --json`` in-process: (exit code, the JSON document)."""
    from orders_cli.cli.app import main

    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["status", "--json", "--redis-url", url])
    sys.stdout.flush()
    return int(info.value.code or 0), orjson.loads(capfd.readouterr().out)


def status_text(capfd: pytest.CaptureFixture[str], url: str) -> tuple[int, str]:
    from orders_cli.cli.app import main

    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["status", "-o", "table", "--redis-url", url])
    sys.stdout.flush()
    return int(info.value.code or 0), capfd.readouterr().out


def healthy_telemetry() -> Telemetry:
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    tel.redis_state = "ok"
    return tel


def test_status_says_ingester_alive_and_redis_refusing_writes_while_out_of_memory(
    redis_server: RedisServer, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_server.client()
    ingester = redis_server.client()
    name_connections(ingester, ingester_name("host-1"))
    r.set(KS.health("host-1"), orjson.dumps(snapshot(healthy_telemetry(), "host-1")), ex=60)
    assert status(capfd, redis_server.url)[0] == 0
    with out_of_memory(r):
        rc, doc = status(capfd, redis_server.url)
        assert rc == 1 and not doc["healthy"]
        assert "ingester host-1 alive, Redis refusing writes (OOM)" in doc["problems"][0]
        assert doc["redis"]["refusing"] == "OOM"
        rc, text = status_text(capfd, redis_server.url)
        assert rc == 1 and "UNHEALTHY" in text and "refusing writes (OOM)" in text
        assert "ingesters connected: host-1" in text
    r.delete(KS.health("host-1"))  # its key expired while its writes were refused
    rc, doc = status(capfd, redis_server.url)
    assert rc == 1
    assert "host-1 is connected to Redis but reports no health" in doc["problems"][0]


def test_status_sees_failing_persistence_and_a_replica(
    redis_server: RedisServer, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_server.client()
    with replica_of(redis_server) as replica:
        rc, doc = status(capfd, replica.url)
        assert rc == 1 and "Redis refusing writes (READONLY)" in doc["problems"][0]
    with failing_persistence(redis_server, r):
        rc, doc = status(capfd, redis_server.url)
        assert rc == 1 and "Redis refusing writes (MISCONF)" in doc["problems"][0]


def _record(snap: dict[str, object]) -> HealthRecord:
    return parse_health("orders:health:test", orjson.dumps(snap)).record


def test_memory_over_80_percent_warns_with_the_time_to_full_in_status_health_and_metrics() -> None:
    tel = healthy_telemetry()
    tel.redis_used_memory, tel.redis_maxmemory = 85 * MIB, 100 * MIB
    tel.redis_memory_rate = MIB / 60  # 1 MiB a minute: 15 minutes left
    snap = snapshot(tel, "host-1")
    assert snap["redis"]["time_to_full_s"] == pytest.approx(900)
    diag = RedisDiagnosis(None, "", 85 * MIB, 100 * MIB, "noeviction", "master", ("host-1",))
    verdict = evaluate([_record(snap)], StatusLimits(), int(time.time() * 1000), diag)
    assert verdict.healthy
    assert any("Redis memory at 85%" in w and "full in 15m" in w for w in verdict.warnings)
    assert "full in 15m" in redis_cell(tel)
    tel.redis_state, tel.redis_refusal = "refusing", "OOM"
    assert "refusing (OOM)" in redis_cell(tel)
    metrics = {m.name: m for m in TelemetryCollector(tel).collect()}
    assert metrics["orders_redis_time_to_full_seconds"].samples[0].value == pytest.approx(900)
    refusing = metrics["orders_redis_refusing"].samples
    assert [(s.labels["reason"], s.value) for s in refusing] == [("OOM", 1.0)]
    assert (
        "refusing (OOM)"
        in evaluate([_record(snapshot(tel, "host-1"))], StatusLimits(), 0).problems[0]
    )


def test_an_ingesters_connections_keep_their_name_when_pooled_before_and_after_a_reconnect(
    redis_shared: RedisServer,
) -> None:
    admin, ingester = redis_shared.client(), redis_shared.client()
    ingester.ping()  # a pooled connection opened before the name was given
    name_connections(ingester, ingester_name("host 7"))
    assert named_ingesters(admin) == ["host_7"]
    admin.client_kill_filter(_type="normal", skipme=True)  # every client but admin
    ingester.ping()  # reconnects
    assert named_ingesters(admin) == ["host_7"]
