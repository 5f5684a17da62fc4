"""`orders status` is never falsely healthy: an ingester with no connection or whose Redis
writes were never confirmed is a problem, and with no ingester in the asked namespace it
says which namespaces do have one (so does `orders tail`)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from orders_cli.health import snapshot
from orders_cli.ops.status import StatusLimits, evaluate, parse_health
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry
from tests.ops.helpers import run_main, store, trade

KS = Keyspace()


def _verdict(tel: Telemetry) -> Any:
    snap = snapshot(tel, "ing-1")
    record = parse_health(KS.health("ing-1"), orjson.dumps(snap)).record
    return evaluate([record], StatusLimits(), int(time.time() * 1000))


def test_an_ingester_with_no_connection_is_unhealthy() -> None:
    tel = Telemetry()
    tel.redis_state = "ok"
    verdict = _verdict(tel)
    assert not verdict.healthy
    assert any("no connections" in p for p in verdict.problems), verdict


def test_an_ingester_whose_redis_state_is_unknown_is_unhealthy() -> None:
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    assert tel.redis_state == "unknown"
    verdict = _verdict(tel)
    assert not verdict.healthy
    assert any("Redis is unknown" in p for p in verdict.problems), verdict


def _live(r: Any, ks: Keyspace, ingester: str) -> None:
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    tel.redis_state = "ok"
    r.set(ks.health(ingester), orjson.dumps(snapshot(tel, ingester)), ex=30)


def test_status_with_no_ingester_here_names_the_namespaces_that_have_one(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_shared.client()
    _live(r, Keyspace(namespace="demo:"), "ing-1")
    rc, out, _err = run_main(capfd, "status", "--json", "--redis-url", redis_shared.url)
    assert rc == 1
    problems = orjson.loads(out)["problems"]
    assert any("1 ingester reports under namespace 'demo'" in p for p in problems), problems
    rc, out, _ = run_main(
        capfd, "status", "--json", "--namespace", "demo", "--redis-url", redis_shared.url
    )
    assert rc == 0, out


def test_tail_with_no_ingester_here_names_the_namespaces_that_have_one(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_shared.client()
    store(r, KS, [trade("BTCUSDT", 1, int(time.time() * 1000))])
    _live(r, Keyspace(namespace="demo:"), "a")
    _live(r, Keyspace(namespace="demo:"), "b")
    _live(r, Keyspace(namespace="prod:"), "c")
    rc, _out, err = run_main(
        capfd, "tail", "BTCUSDT", "--count", "1", "--since", "1m", "--redis-url", redis_shared.url
    )
    assert rc == 0, err
    assert "2 ingesters report under namespace 'demo', 1 under 'prod'" in err, err
