"""Health snapshots of one ingester: :func:`snapshot` (pure, from :class:`Telemetry`) and
:func:`publish_health` (a trio task SETting it with a TTL every ``interval`` seconds under
``Keyspace.health(ingester_id)``, read by ``orders status``).

Snapshot JSON (version 1)::

    {"version": 1, "ingester_id", "heartbeat_ms", "uptime_s",
     "connections": [{"shard", "market", "state", "state_for_s", "streams", "messages",
                      "reconnects", "last_message_age_s", "last_error", "clock_offset_ms",
                      "silent_alarm", "silent_alarms"}],
     "connections_by_state": {"live": n, ...},
     "rates": {"overall": msg/s, "by_market": {"spot": msg/s}, "window_s"},
     "silent_symbols": [...],          # Telemetry.silent_symbols (the panel counts them;
                                       # "usdm:BTCUSDT" in a run of several markets)
     "markets": {"spot": {"symbols", "connections": {"live", "all"}, "trades_stored",
                          "latency_ms": {"p50", "p99"}, "gaps": {...as below},
                          "backfill_queue"}, ...},   # from ``extra``: one per market
     "latency_ms": {"p50", "p99", "max", "samples"},
     "late_trades", "bar_corrections", "malformed", "out_of_range", "duplicates",
     "dropped_overload",
     "gaps": {"open", "oldest_open_ms", "oldest_open_age_s", "opened", "filled",
              "exchange_side", "most_per_symbol"},
     "history": {"complete", "complete_after_s", "symbols_done", "symbols_total", "pages",
                 "pages_left", "eta_s"},   # the cold-start backfill (Telemetry.history)
     "redis": {"state", "refusal", "used_memory", "maxmemory", "used_ratio",
               "memory_alert", "eviction_policy", "growth_bytes_per_s", "time_to_full_s",
               "primary"},   # redis+sentinel://: "MASTER at HOST:PORT" written to, else null
     ...extra}

``Telemetry.oldest_open_gap_ms`` is the stamp of the oldest open gap (epoch ms); its age
is measured on the monotonic clock (``Telemetry.oldest_open_gap_mono``), never from the
wall clock, which may step. ``rates`` are the lifetime average unless the caller passes a
window (the publisher does: the message delta between two publishes).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import trio

from orders_cli import clock
from orders_cli.redis_conn import MEMORY_WARN_RATIO, time_to_full_s
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry

VERSION = 1
HEALTH_TTL_S = 10
"""A health record outlives its ingester by at most this long (a run that could not
delete it: a second Ctrl-C, a kill)."""
MEMORY_ALERT_RATIO = MEMORY_WARN_RATIO

Write = Callable[[str, bytes, int], Awaitable[None]]


def _market(shard: str) -> str:
    return shard.split("#", 1)[0]


def messages_by_market(telemetry: Telemetry) -> dict[str, int]:
    out: dict[str, int] = {}
    for conn in list(telemetry.connections.values()):
        m = _market(conn.shard)
        out[m] = out.get(m, 0) + conn.messages
    return out


def _rates(telemetry: Telemetry, now_mono: float) -> dict[str, Any]:
    uptime = max(now_mono - telemetry.started_monotonic, 1e-9)
    by_market = {m: n / uptime for m, n in messages_by_market(telemetry).items()}
    return {"overall": sum(by_market.values()), "by_market": by_market, "window_s": uptime}


def history_fields(telemetry: Telemetry) -> dict[str, Any]:
    """The cold-start backfill's progress (Telemetry.history), as health and status show it."""
    h = telemetry.history
    return {
        "complete": h.complete,
        "complete_after_s": h.complete_after_s,
        "symbols_done": h.symbols_done,
        "symbols_total": h.symbols_total,
        "pages": telemetry.counters["backfill_cold_pages"],
        "pages_left": h.pages_left,
        "eta_s": h.eta_s(),
    }


def _gaps(telemetry: Telemetry, now_mono: float) -> dict[str, Any]:
    opened_mono, counters = telemetry.oldest_open_gap_mono, telemetry.counters
    return {
        "open": telemetry.open_gaps,
        "oldest_open_ms": telemetry.oldest_open_gap_ms,
        "oldest_open_age_s": (
            None if opened_mono is None else round(max(0.0, now_mono - opened_mono), 3)
        ),
        "opened": counters["gaps_opened"],
        "most_per_symbol": telemetry.most_gaps_per_symbol,
        "filled": counters["gaps_filled"],
        "exchange_side": counters["gaps_exchange_side"],
    }


def market_section(telemetry: Telemetry) -> dict[str, Any]:
    """One market's part of a run of several (the snapshot's ``markets``): what
    ``orders status`` shows and judges per market."""
    conns = list(telemetry.connections.values())
    return {
        "symbols": {"subscribed": telemetry.symbols_subscribed, "listed": telemetry.symbols_listed},
        "connections": {"live": sum(c.state == "live" for c in conns), "all": len(conns)},
        "trades_stored": telemetry.counters["trades_stored"],
        "latency_ms": {
            "p50": telemetry.latency_percentile(0.5),
            "p99": telemetry.latency_percentile(0.99),
        },
        "gaps": _gaps(telemetry, time.monotonic()),
        "backfill_queue": telemetry.backfill_queue,
    }


def snapshot(
    telemetry: Telemetry, ingester_id: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-able dict of everything ``orders status`` and alerts need (see module doc)."""
    now_mono = time.monotonic()
    now_ms = clock.now_ms()
    conns = []
    by_state: dict[str, int] = {}
    for c in list(telemetry.connections.values()):
        by_state[c.state] = by_state.get(c.state, 0) + 1
        last = c.last_message_monotonic
        conns.append(
            {
                "shard": c.shard,
                "market": _market(c.shard),
                "state": c.state,
                "state_for_s": round(now_mono - c.since_monotonic, 3),
                "streams": c.streams,
                "messages": c.messages,
                "reconnects": c.reconnects,
                "last_message_age_s": None if last is None else round(now_mono - last, 3),
                "last_error": c.last_error,
                "clock_offset_ms": c.clock_offset_ms,
                "silent_alarm": c.silent_alarm,
                "silent_alarms": c.silent_alarms,
            }
        )
    lat = list(telemetry.latency_ms)
    counters = telemetry.counters
    used, maxmem = telemetry.redis_used_memory, telemetry.redis_maxmemory
    ratio = used / maxmem if used is not None and maxmem else None
    snap: dict[str, Any] = {
        "version": VERSION,
        "ingester_id": ingester_id,
        "heartbeat_ms": now_ms,
        "uptime_s": round(now_mono - telemetry.started_monotonic, 3),
        "connections": conns,
        "connections_by_state": by_state,
        "rates": _rates(telemetry, now_mono),
        "silent_symbols": list(telemetry.silent_symbols),
        "symbols": {"subscribed": telemetry.symbols_subscribed, "listed": telemetry.symbols_listed},
        "latency_ms": {
            "p50": telemetry.latency_percentile(0.5),
            "p99": telemetry.latency_percentile(0.99),
            "max": max(lat) if lat else None,
            "samples": len(lat),
        },
        "trades_stored": counters["trades_stored"],
        "late_trades": counters["late_trades"],
        "bar_corrections": counters["bar_corrections"],
        "malformed": counters["malformed"],
        "out_of_range": counters["out_of_range"],
        "duplicates": counters["duplicates"],
        "dropped_overload": counters["dropped_overload"],
        "gaps": _gaps(telemetry, now_mono),
        "backfill_queue": telemetry.backfill_queue,
        "history": history_fields(telemetry),
        "channel_depth": telemetry.channel_depth,
        "redis": {
            "state": telemetry.redis_state,
            "refusal": telemetry.redis_refusal,
            "used_memory": used,
            "maxmemory": maxmem,
            "used_ratio": ratio,
            "memory_alert": ratio is not None and ratio >= MEMORY_ALERT_RATIO,
            "eviction_policy": telemetry.redis_eviction_policy,
            "growth_bytes_per_s": telemetry.redis_memory_rate,
            "time_to_full_s": time_to_full_s(used, maxmem, telemetry.redis_memory_rate),
            "primary": telemetry.redis_primary,
        },
    }
    if extra:
        snap.update(extra)
    return snap


async def publish_health(
    write: Write,
    keyspace: Keyspace,
    telemetry: Telemetry | Callable[[], Telemetry],
    ingester_id: str,
    interval: float = 2.0,
    ttl: int = HEALTH_TTL_S,
    extra: Callable[[], Mapping[str, Any]] | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Forever: SET ``keyspace.health(ingester_id)`` to the snapshot with ``ttl`` seconds,
    every ``interval`` s, through ``write`` (the ingester's Redis writer). Rates are over
    the last interval. ``telemetry``: or how to take it (a run of several markets merges
    theirs at each publish). Cancel to stop; the key expires ``ttl`` s later."""
    key = keyspace.health(ingester_id)
    prev: tuple[float, dict[str, int]] | None = None
    view = telemetry if callable(telemetry) else (lambda: telemetry)
    task_status.started()
    while True:
        telemetry_now = view()
        now = time.monotonic()
        counts = messages_by_market(telemetry_now)
        more: dict[str, Any] = dict(extra()) if extra is not None else {}
        if prev is not None and now > prev[0]:
            dt = now - prev[0]
            by_market = {m: max(0, n - prev[1].get(m, 0)) / dt for m, n in counts.items()}
            more.setdefault(
                "rates",
                {"overall": sum(by_market.values()), "by_market": by_market, "window_s": dt},
            )
        prev = (now, counts)
        await write(key, orjson.dumps(snapshot(telemetry_now, ingester_id, more)), ttl)
        await trio.sleep(interval)
