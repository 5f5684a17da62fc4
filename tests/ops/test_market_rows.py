"""A run of several markets shows each: a panel row per market, and Prometheus series
labelled by market beside the run's totals."""

from __future__ import annotations

from rich.console import Console

from orders_cli.cli.render_run import MarketRates, panel
from orders_cli.metrics import TelemetryCollector
from orders_cli.telemetry import Telemetry, merged


def _markets() -> dict[str, Telemetry]:
    out = {}
    for name, stored, gaps in (("spot", 1234, 0), ("usdm", 567, 2), ("coinm", 89, 0)):
        t = Telemetry()
        t.count("trades_stored", stored)
        t.open_gaps = gaps
        t.symbols_subscribed, t.symbols_listed = 3, 4
        t.connection(f"{name}#0").set("live")
        out[name] = t
    return out


def test_the_panel_has_a_row_per_market_under_the_totals() -> None:
    markets = _markets()
    console = Console(width=80, record=True)
    view = merged(markets)
    console.print(panel(view, 0.0, "orders run", markets=MarketRates(markets)))
    text = console.export_text()
    assert "stored 1,890" in text  # the run's total
    rows = {line.split()[1]: line for line in text.splitlines() if line[2:7].strip() in markets}
    assert "1,234" in rows["spot"] and "3/4" in rows["spot"]
    assert "567" in rows["usdm"] and rows["usdm"].rstrip(" │").endswith("2")
    assert "89" in rows["coinm"]
    assert max(map(len, text.splitlines())) <= 80


def test_metrics_split_the_counters_and_gauges_by_market() -> None:
    metrics = {m.name: m for m in TelemetryCollector(_markets()).collect()}
    stored = {
        s.labels["market"]: s.value
        for s in metrics["orders_market_events"].samples
        if s.labels["name"] == "trades_stored" and s.name.endswith("_total")
    }
    assert stored == {"spot": 1234.0, "usdm": 567.0, "coinm": 89.0}
    gaps = {s.labels["market"]: s.value for s in metrics["orders_market_open_gaps"].samples}
    assert gaps == {"spot": 0.0, "usdm": 2.0, "coinm": 0.0}
    totals = {
        s.labels["name"]: s.value
        for s in metrics["orders_events"].samples
        if s.name.endswith("_total")
    }
    assert totals["trades_stored"] == 1890.0
    (open_gaps,) = metrics["orders_open_gaps"].samples
    assert open_gaps.value == 2.0
