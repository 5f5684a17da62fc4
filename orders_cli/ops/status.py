"""Reading the ingesters' health snapshots and Redis' own state, and judging them
(``orders status``).

Redis is diagnosed from INFO, not only through the ingesters' health keys: while Redis
refuses writes (out of memory with ``noeviction``, failing persistence, a replica) an
ingester cannot renew its key, so a stale key would say HEALTHY and a missing one "not
running". Ingesters are also seen by their named connections (``CLIENT LIST``)."""

from __future__ import annotations

from typing import Any, cast

import attrs
import orjson
import redis

from orders_cli.durations import format_duration
from orders_cli.redis_conn import MEMORY_WARN_RATIO, named_ingesters
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


@attrs.frozen(slots=True)
class RedisDiagnosis:
    """What Redis says about itself. ``refusing``: the code its writes answer now."""

    refusing: str | None
    detail: str
    used_memory: int
    maxmemory: int
    policy: str
    role: str
    connected_ingesters: tuple[str, ...]


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def diagnose_redis(r: redis.Redis) -> RedisDiagnosis:
    """INFO memory / persistence / replication and CLIENT LIST; read-only."""
    info: dict[str, Any] = {}
    for section in ("memory", "persistence", "replication"):
        info.update(r.info(section))
    used, maxmem = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    policy, role = str(info.get("maxmemory_policy", "noeviction")), str(info.get("role", ""))
    refusing, detail = None, ""
    if role == "slave":
        refusing = "READONLY"
        detail = f"this Redis is a replica of {info.get('master_host')}:{info.get('master_port')}"
    elif int(info.get("loading", 0)):
        refusing, detail = "LOADING", "Redis is loading its dataset"
    elif info.get("rdb_last_bgsave_status") == "err" or info.get("aof_last_write_status") == "err":
        refusing = "MISCONF"
        detail = "persistence is failing (last RDB save or AOF write failed): check its dir"
    elif maxmem and used >= maxmem and policy == "noeviction":
        refusing = "OOM"
        detail = f"used {_mib(used)} of maxmemory {_mib(maxmem)} with noeviction"
    return RedisDiagnosis(refusing, detail, used, maxmem, policy, role, tuple(named_ingesters(r)))


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


def evaluate(
    snapshots: list[dict[str, Any]],
    limits: StatusLimits,
    now_ms: int,
    redis_diag: RedisDiagnosis | None = None,
) -> Verdict:
    """Problems make ``orders status`` exit 1; warnings are shown only."""
    problems: list[str] = []
    warnings: list[str] = []
    connected = redis_diag.connected_ingesters if redis_diag is not None else ()
    if redis_diag is not None:
        _judge_redis(redis_diag, snapshots, problems, warnings)
    reporting = {str(snap.get("ingester_id")) for snap in snapshots}
    silent = [i for i in connected if i not in reporting]
    if silent:
        problems.append(
            f"ingester {', '.join(silent)} is connected to Redis but reports no health"
            " (its health key is missing: are its writes refused?)"
        )
    elif not snapshots:
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
            why = f" ({red['refusal']})" if red.get("refusal") else ""
            problems.append(f"{who}: Redis is {red['state']}{why}")
        if red.get("memory_alert"):
            left = red.get("time_to_full_s")
            full = f", full in {format_duration(left)}" if left else ""
            warnings.append(f"{who}: Redis memory at {100 * red.get('used_ratio', 0):.0f}%{full}")
        policy = red.get("eviction_policy")
        if policy and policy != "noeviction" and red.get("maxmemory"):
            warnings.append(f"{who}: Redis may evict keys (maxmemory-policy {policy})")
    return Verdict(healthy=not problems, problems=tuple(problems), warnings=tuple(warnings))


def _judge_redis(
    diag: RedisDiagnosis,
    snapshots: list[dict[str, Any]],
    problems: list[str],
    warnings: list[str],
) -> None:
    if diag.refusing is not None:
        who = ", ".join(diag.connected_ingesters)
        alive = f"ingester {who} alive, " if who else ""
        problems.append(f"{alive}Redis refusing writes ({diag.refusing}): {diag.detail}")
    elif diag.maxmemory and diag.used_memory >= MEMORY_WARN_RATIO * diag.maxmemory:
        lefts = [
            snap.get("redis", {}).get("time_to_full_s")
            for snap in snapshots
            if snap.get("redis", {}).get("time_to_full_s") is not None
        ]
        full = f", full in {format_duration(min(lefts))} at the current rate" if lefts else ""
        warnings.append(
            f"Redis memory at {100 * diag.used_memory / diag.maxmemory:.0f}% "
            f"({_mib(diag.used_memory)} of {_mib(diag.maxmemory)}){full}"
        )


def check_status(
    r: redis.Redis, keyspace: Keyspace, limits: StatusLimits, now_ms: int
) -> tuple[list[dict[str, Any]], RedisDiagnosis, Verdict]:
    """Everything ``orders status`` shows: the snapshots, Redis' own state, the verdict."""
    snaps = read_health(r, keyspace)
    diag = diagnose_redis(r)
    return snaps, diag, evaluate(snaps, limits, now_ms, diag)
