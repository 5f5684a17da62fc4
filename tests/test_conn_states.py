"""Connection states are one closed set, shared by the shard, the panel and the metrics."""

from __future__ import annotations

from prometheus_client.registry import CollectorRegistry

from orders_cli.cli.render_run import STATE_STYLE
from orders_cli.metrics import TelemetryCollector
from orders_cli.telemetry import CONN_STATES, Telemetry


def test_every_connection_state_has_a_panel_style() -> None:
    assert set(STATE_STYLE) == set(CONN_STATES)


def test_metrics_export_every_connection_state_of_a_market_even_at_zero() -> None:
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    registry = CollectorRegistry()
    registry.register(TelemetryCollector(tel))
    exported = {
        sample.labels["state"]: sample.value
        for metric in registry.collect()
        if metric.name == "orders_connections"
        for sample in metric.samples
    }
    assert set(exported) == set(CONN_STATES)
    assert exported["live"] == 1.0
    assert sum(exported.values()) == 1.0
