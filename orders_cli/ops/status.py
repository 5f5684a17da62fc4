"""Reading the ingesters' health snapshots and judging them (``orders status``)."""

from __future__ import annotations

from typing import Any, cast

import attrs
import orjson
import redis

from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import CLOCK_OFFSET_LIMIT_MS


@attrs.frozen(slots=True)
class StatusLimits:
    max_down_s: float = 60.0  # a connection not live for longer than this is a problem
    max_gap_age_s: float = 600.0  # an open gap older than this is a problem


@attrs.frozen(slots=True)
class Verdict:
    healthy: bool
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def read_health(r: redis.Redis, keyspace: Keyspace) -> list[dict[str, Any]]:
    """Every live ingester's snapshot (SCAN over ``Keyspace.health_pattern()``)."""
    out = []
    for key in sorted(r.scan_iter(match=keyspace.health_pattern(), count=500)):
        raw = cast(bytes | None, r.get(key))
        if raw is None:  # expired between SCAN and GET
            continue
        try:
            snap = orjson.loads(raw)
        except orjson.JSONDecodeError:
            snap = {"ingester_id": key.decode(), "invalid": True}
        if isinstance(snap, dict):
            out.append(snap)
    return out


def evaluate(snapshots: list[dict[str, Any]], limits: StatusLimits, now_ms: int) -> Verdict:
    """Problems make ``orders status`` exit 1; warnings are shown only."""
    problems: list[str] = []
    warnings: list[str] = []
    if not snapshots:
        problems.append("no live ingester (no health key: `orders run` is not running)")
    for snap in snapshots:
        who = snap.get("ingester_id", "?")
        if snap.get("invalid"):
            problems.append(f"{who}: unreadable health snapshot")
            continue
        lag_s = max(0.0, (now_ms - int(snap.get("heartbeat_ms", now_ms))) / 1000)
        conns = snap.get("connections", [])
        if not conns:
            warnings.append(f"{who}: no connections")
        for c in conns:
            offset = c.get("clock_offset_ms")
            if isinstance(offset, int) and abs(offset) > CLOCK_OFFSET_LIMIT_MS:
                warnings.append(
                    f"{who}: connection {c.get('shard')}: host clock {offset / 1000:+.1f}s off"
                    " the exchange's event times"
                )
            down_for = float(c.get("state_for_s", 0)) + lag_s
            if c.get("state") != "live" and down_for > limits.max_down_s:
                problems.append(
                    f"{who}: connection {c.get('shard')} is {c.get('state')} for {down_for:.0f}s"
                    f" (> {limits.max_down_s:g}s)"
                    + (f": {c['last_error']}" if c.get("last_error") else "")
                )
        gaps = snap.get("gaps", {})
        age = gaps.get("oldest_open_age_s")
        if age is not None and gaps.get("open", 0) and age + lag_s > limits.max_gap_age_s:
            problems.append(
                f"{who}: {gaps['open']} open gap(s), oldest {age + lag_s:.0f}s old"
                f" (> {limits.max_gap_age_s:g}s)"
            )
        red = snap.get("redis", {})
        if red.get("state") not in (None, "ok", "unknown"):
            problems.append(f"{who}: Redis is {red['state']}")
        if red.get("memory_alert"):
            warnings.append(f"{who}: Redis memory at {100 * red.get('used_ratio', 0):.0f}%")
        policy = red.get("eviction_policy")
        if policy and policy != "noeviction" and red.get("maxmemory"):
            warnings.append(f"{who}: Redis may evict keys (maxmemory-policy {policy})")
    return Verdict(healthy=not problems, problems=tuple(problems), warnings=tuple(warnings))
