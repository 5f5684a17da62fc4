"""One run of several markets shows one view of their telemetry (panel totals, health,
the embedded watcher): telemetry.merged."""

from __future__ import annotations

from orders_cli.telemetry import Telemetry, merged


def _market(name: str, stored: int, gaps: int, oldest: int | None, state: str) -> Telemetry:
    t = Telemetry()
    t.count("trades_stored", stored)
    t.connection(f"{name}#0").messages = stored
    t.open_gaps, t.oldest_open_gap_ms, t.redis_state = gaps, oldest, state
    t.symbols_subscribed = t.symbols_listed = 3
    t.latency_ms.extend([float(stored)] * 3)
    return t


def test_merged_sums_the_markets_and_keeps_each_connection_and_the_oldest_gap() -> None:
    spot = _market("spot", 10, 1, 2_000, "ok")
    usdm = _market("usdm", 5, 2, 1_000, "retrying")
    view = merged({"spot": spot, "usdm": usdm})
    assert view.counters["trades_stored"] == 15
    assert sorted(view.connections) == ["spot#0", "usdm#0"]
    assert (view.open_gaps, view.oldest_open_gap_ms) == (3, 1_000)
    assert view.symbols_subscribed == 6 and len(view.latency_ms) == 6
    assert view.redis_state == "retrying"  # the worst part's view of Redis
    assert spot.counters["trades_stored"] == 10  # the parts are left as they are


def test_merged_of_one_market_is_that_markets_telemetry() -> None:
    spot = _market("spot", 1, 0, None, "ok")
    assert merged({"spot": spot}) is spot
