"""Prometheus endpoint: :func:`serve_metrics` exposes :class:`Telemetry` through a custom
Collector that reads it at scrape time.

The HTTP server runs in a daemon thread (prometheus_client's own ``start_http_server``),
not a trio task: it needs no async code, cannot stall the trio loop, and dies with the
process. A scrape reads Telemetry from that thread while the trio thread updates it; every
read is of plain ints or a copied dict/deque (``list(...)``), so the worst case is a scrape
that is a few microseconds stale, never a torn number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from orders_cli.health import messages_by_market
from orders_cli.redis_conn import time_to_full_s
from orders_cli.telemetry import CONN_STATES, Telemetry, merged

MARKET_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("orders_market_open_gaps", "Open gaps, per market", "open_gaps"),
    ("orders_market_symbols_subscribed", "Symbols subscribed, per market", "symbols_subscribed"),
    ("orders_market_backfill_queue", "Backfill requests queued, per market", "backfill_queue"),
)


class TelemetryCollector(Collector):
    """Counters, connection states, latency, gaps and Redis memory, prefixed ``orders_``.
    Given each market's telemetry (a run of one or several markets), the families above
    are the run's totals and ``orders_market_*`` split them by market."""

    def __init__(self, telemetry: Telemetry | Mapping[str, Telemetry]) -> None:
        self.markets = {} if isinstance(telemetry, Telemetry) else telemetry
        self.telemetry = telemetry if isinstance(telemetry, Telemetry) else None

    def collect(self) -> Iterator[Metric]:
        tel = self.telemetry or merged(self.markets)
        yield from self._by_market()
        events = CounterMetricFamily(
            "orders_events", "Pipeline event counters by name", labels=["name"]
        )
        for name, value in sorted(dict(tel.counters).items()):
            events.add_metric([name], float(value))
        yield events

        messages = CounterMetricFamily(
            "orders_ws_messages", "WebSocket messages received", labels=["market"]
        )
        for market, n in sorted(messages_by_market(tel).items()):
            messages.add_metric([market], float(n))
        yield messages

        conns = list(tel.connections.values())
        state = GaugeMetricFamily(
            "orders_connections", "Connections by state", labels=["market", "state"]
        )
        counts: dict[tuple[str, str], int] = {}
        for c in conns:
            market = c.shard.split("#", 1)[0]
            for known in CONN_STATES:
                counts.setdefault((market, known), 0)
            counts[(market, c.state)] = counts.get((market, c.state), 0) + 1
        for (market, s), n in sorted(counts.items()):
            state.add_metric([market, s], float(n))
        yield state

        offset = GaugeMetricFamily(
            "orders_clock_offset_ms",
            "Host clock minus the exchange's event times, per shard (lowest over 10 s)",
            labels=["shard"],
        )
        for c in conns:
            if c.clock_offset_ms is not None:
                offset.add_metric([c.shard], float(c.clock_offset_ms))
        yield offset

        reconnects = CounterMetricFamily(
            "orders_reconnects", "Reconnects per shard", labels=["shard"]
        )
        for c in conns:
            reconnects.add_metric([c.shard], float(c.reconnects))
        yield reconnects

        silent = CounterMetricFamily(
            "orders_silent_endpoint_alarms",
            "Times a connection delivered no trade while REST showed new ones (reconnected)",
            labels=["shard"],
        )
        for c in conns:
            silent.add_metric([c.shard], float(c.silent_alarms))
        yield silent

        lat = sorted(list(tel.latency_ms))
        latency = GaugeMetricFamily(
            "orders_latency_ms", "Event time to visible-in-Redis latency", labels=["quantile"]
        )
        if lat:
            for q in (0.5, 0.9, 0.99):
                latency.add_metric([str(q)], lat[min(len(lat) - 1, round(q * (len(lat) - 1)))])
            latency.add_metric(["1"], lat[-1])
        yield latency

        gauges: list[tuple[str, str, Any]] = [
            ("orders_open_gaps", "Open gaps", tel.open_gaps),
            (
                "orders_open_gaps_most_per_symbol",
                "Open gap records of the symbol with the most",
                tel.most_gaps_per_symbol,
            ),
            (
                "orders_oldest_open_gap_ms",
                "When the oldest open gap opened",
                tel.oldest_open_gap_ms,
            ),
            (
                "orders_oldest_open_gap_age_seconds",
                "Age of the oldest open gap (monotonic clock)",
                None
                if tel.oldest_open_gap_mono is None
                else max(0.0, time.monotonic() - tel.oldest_open_gap_mono),
            ),
            ("orders_backfill_queue", "Backfill requests queued", tel.backfill_queue),
            (
                "orders_history_complete",
                "1 once every subscribed symbol's history is in the store (cold starts done)",
                tel.history.complete,
            ),
            (
                "orders_history_symbols_done",
                "Symbols whose history is stored",
                tel.history.symbols_done,
            ),
            (
                "orders_history_pages_left",
                "Cold-start REST pages left (estimate)",
                tel.history.pages_left,
            ),
            (
                "orders_history_eta_seconds",
                "Time the cold-start pages left take at the REST budget's pace",
                tel.history.eta_s(),
            ),
            ("orders_channel_depth", "Events waiting for the writer", tel.channel_depth),
            ("orders_symbols_subscribed", "Symbols subscribed", tel.symbols_subscribed),
            ("orders_symbols_listed", "Symbols listed by the exchange", tel.symbols_listed),
            ("orders_redis_used_memory_bytes", "Redis used_memory", tel.redis_used_memory),
            ("orders_redis_maxmemory_bytes", "Redis maxmemory (0 = none)", tel.redis_maxmemory),
            ("orders_redis_up", "1 when the writer reaches Redis", tel.redis_state == "ok"),
            (
                "orders_redis_time_to_full_seconds",
                "Time until used_memory reaches maxmemory at the current growth",
                time_to_full_s(tel.redis_used_memory, tel.redis_maxmemory, tel.redis_memory_rate),
            ),
        ]
        for name, doc, value in gauges:
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))
        refusing = GaugeMetricFamily(
            "orders_redis_refusing",
            "1 while Redis refuses the writer's writes, by the code of its reply (OOM...)",
            labels=["reason"],
        )
        if tel.redis_refusal is not None:
            refusing.add_metric([tel.redis_refusal], 1.0)
        yield refusing

    def _by_market(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "orders_market_events", "Pipeline event counters by market and name",
            labels=["market", "name"],
        )  # fmt: skip
        for market, tel in self.markets.items():
            for name, value in sorted(dict(tel.counters).items()):
                events.add_metric([market, name], float(value))
        yield events
        for family, doc, attr in MARKET_GAUGES:
            gauge = GaugeMetricFamily(family, doc, labels=["market"])
            for market, tel in self.markets.items():
                gauge.add_metric([market], float(getattr(tel, attr)))
            yield gauge


def serve_metrics(
    port: int, telemetry: Telemetry | Mapping[str, Telemetry], addr: str = "127.0.0.1"
) -> tuple[Any, threading.Thread]:
    """Start the ``/metrics`` HTTP server in a daemon thread; returns (server, thread).
    ``server.shutdown()`` stops it; ``port=0`` picks a free one (``server.server_port``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelemetryCollector(telemetry))
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return server, thread
