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


def test_merged_names_each_silent_symbol_by_its_market_and_keeps_the_most_gaps_of_one() -> None:
    spot, usdm = _market("spot", 1, 1, None, "ok"), _market("usdm", 1, 4, None, "ok")
    spot.silent_symbols, usdm.silent_symbols = ["IDLEUSDT"], ["BTCUSDT", "ETHUSDT"]
    spot.most_gaps_per_symbol, usdm.most_gaps_per_symbol = 1, 3
    spot.example_symbol, usdm.example_symbol = "BTCUSDT", "ETHUSDT"
    view = merged({"spot": spot, "usdm": usdm})
    assert view.silent_symbols == ["spot:IDLEUSDT", "usdm:BTCUSDT", "usdm:ETHUSDT"]
    assert view.most_gaps_per_symbol == 3
    assert view.example_symbol == "BTCUSDT"  # the first market's: the footer's tail hint


def test_merged_history_sums_the_backfills_and_waits_for_the_slowest() -> None:
    spot, usdm = _market("spot", 1, 0, None, "ok"), _market("usdm", 1, 0, None, "ok")
    spot.history.symbols_total, spot.history.symbols_done = 10, 10
    spot.history.complete_after_s = 12.0
    usdm.history.symbols_total, usdm.history.symbols_done = 5, 2
    usdm.history.pages_left, usdm.history.page_weight = 30, 20
    usdm.history.weight_per_minute = 600.0  # 30 pages x 20 / 600 a minute: 60 s
    view = merged({"spot": spot, "usdm": usdm}).history
    assert (view.symbols_done, view.symbols_total, view.pages_left) == (12, 15, 30)
    assert not view.complete and view.eta_s() == 60.0
    usdm.history.pages_left, usdm.history.symbols_done = 0, 5
    usdm.history.complete_after_s = 40.0
    done = merged({"spot": spot, "usdm": usdm}).history
    assert done.complete and done.complete_after_s == 40.0 and done.eta_s() == 0.0
