"""A run of several markets publishes one health record with a section per market:
`orders status` shows a row per market, judges each market's gaps by name, and
`--market` narrows the view to the markets asked for."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from orders_cli.cli.render_ops import status_view
from orders_cli.health import market_section, snapshot
from orders_cli.ops.status import StatusLimits, evaluate, for_markets, parse_health
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry, merged
from tests.ops.helpers import run_main

KS = Keyspace()


def _market(name: str, stored: int) -> Telemetry:
    t = Telemetry()
    t.redis_state = "ok"
    t.connection(f"{name}#0").set("live")
    t.count("trades_stored", stored)
    return t


def _record(parts: dict[str, Telemetry], ingester: str = "ing-1") -> dict[str, Any]:
    markets = {name: market_section(t) for name, t in parts.items()}
    return snapshot(merged(parts), ingester, {"markets": markets})


def test_an_old_gap_is_named_by_its_market() -> None:
    spot, usdm = _market("spot", 10), _market("usdm", 5)
    usdm.open_gaps, usdm.oldest_open_gap_ms = 3, 1
    usdm.oldest_open_gap_mono = time.monotonic() - 3600
    health = parse_health(KS.health("ing-1"), orjson.dumps(_record({"spot": spot, "usdm": usdm})))
    verdict = evaluate([health.record], StatusLimits(), int(time.time() * 1000))
    assert [p for p in verdict.problems if "gap" in p] == [
        "ing-1: usdm: 3 open gap(s), oldest 3600s old (> 600s)"
    ]


def test_status_narrowed_to_one_market_keeps_only_its_connections_and_row() -> None:
    doc = _record({"spot": _market("spot", 10), "coinm": _market("coinm", 7)})
    health = parse_health(KS.health("ing-1"), orjson.dumps(doc))
    narrowed = for_markets(health, ["coinm"])
    assert narrowed is not None
    assert [c.shard for c in narrowed.record.connections] == ["coinm#0"]
    assert list(narrowed.doc["markets"]) == ["coinm"]
    assert for_markets(health, ["usdm"]) is None  # this run does not record USD-M


def test_the_status_view_has_a_row_per_market() -> None:
    from rich.console import Console

    doc = _record({"spot": _market("spot", 1234), "usdm": _market("usdm", 56)})
    verdict = evaluate([], StatusLimits(), 0)
    console = Console(width=120, record=True)
    console.print(status_view([doc], verdict))
    text = console.export_text()
    assert "markets" in text
    rows = [line for line in text.splitlines() if "1,234" in line or "│ usdm" in line]
    assert any("spot" in line and "1,234" in line for line in rows), text
    assert any("usdm" in line and "56" in line for line in rows), text


def test_orders_status_market_shows_only_runs_of_that_market(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_server.client()
    r.set(KS.health("ing-1"), orjson.dumps(_record({"spot": _market("spot", 3)})), ex=10)
    both = {"spot": _market("spot", 1), "usdm": _market("usdm", 2)}
    r.set(KS.health("ing-2"), orjson.dumps(_record(both, "ing-2")), ex=10)
    _code, out, err = run_main(
        capfd, "status", "--json", "--market", "usdm", "--redis-url", redis_server.url
    )
    doc = orjson.loads(out)
    assert [i["ingester_id"] for i in doc["ingesters"]] == ["ing-2"], err
    assert list(doc["ingesters"][0]["markets"]) == ["usdm"]
    _code, out, _err = run_main(capfd, "status", "--json", "--redis-url", redis_server.url)
    assert len(orjson.loads(out)["ingesters"]) == 2  # all markets by default


def test_orders_status_of_a_market_no_run_records_names_the_markets_recorded(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_server.client()
    r.set(KS.health("ing-1"), orjson.dumps(_record({"spot": _market("spot", 3)})), ex=10)
    code, out, _err = run_main(
        capfd, "status", "--market", "coinm", "--json", "--redis-url", redis_server.url
    )
    assert code == 1
    (problem,) = [p for p in orjson.loads(out)["problems"] if "no live ingester" in p]
    assert "the ingesters here record spot, not coinm" in problem
