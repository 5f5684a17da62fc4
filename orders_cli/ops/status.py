"""Reading the ingesters' health snapshots and Redis' own state, and judging them
(``orders status``).

Redis is diagnosed from INFO, not only through the ingesters' health keys: while Redis
refuses writes (out of memory with ``noeviction``, failing persistence, a replica) an
ingester cannot renew its key, so a stale key would say HEALTHY and a missing one "not
running". Ingesters are also seen by their named connections (``CLIENT LIST``); on a
Redis Cluster both are asked of every primary (:mod:`orders_cli.ops.redis_diag`), and the
health keys are found by a SCAN of every primary.

A snapshot is structured (cattrs) into a :class:`HealthRecord` of the fields the verdict
reads; a record that is not one (not JSON, another version, a field of the wrong type: a
foreign writer or another orders release) raises :class:`MalformedHealthRecord` naming
its key and what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn

from orders_cli.durations import format_duration
from orders_cli.errors import MalformedHealthRecord
from orders_cli.health import VERSION
from orders_cli.hints import command
from orders_cli.ops.redis_diag import RedisDiagnosis, diagnose_redis, judge_redis
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import HEALTH_ANY_NAMESPACE, Keyspace, health_namespace
from orders_cli.telemetry import CLOCK_OFFSET_LIMIT_MS

MAX_ERRORS_SHOWN = 3


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
class ConnectionHealth:
    shard: str
    state: str
    state_for_s: float = 0.0
    last_error: str | None = None
    clock_offset_ms: int | None = None
    silent_alarm: str | None = None  # pipeline/endpoint_watch.py: until a trade arrives


@attrs.frozen(slots=True)
class GapHealth:
    open: int = 0
    oldest_open_age_s: float | None = None


@attrs.frozen(slots=True)
class RedisHealth:
    state: str | None = None
    memory_alert: bool = False
    used_ratio: float | None = None
    eviction_policy: str | None = None
    maxmemory: int | None = None
    refusal: str | None = None
    time_to_full_s: float | None = None


@attrs.frozen(slots=True)
class MarketHealth:
    gaps: GapHealth = GapHealth()


@attrs.frozen(slots=True)
class HealthRecord:
    """The fields of a snapshot (``orders_cli.health``) that :func:`evaluate` judges.
    ``markets``: a section per market the run records (judged one by one)."""

    version: int
    ingester_id: str
    heartbeat_ms: int
    connections: tuple[ConnectionHealth, ...] = ()
    gaps: GapHealth = GapHealth()
    redis: RedisHealth = RedisHealth()
    markets: dict[str, MarketHealth] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class Health:
    key: str
    doc: dict[str, Any]  # the snapshot as published (the JSON output and the dashboard)
    record: HealthRecord


_converter = cattrs.Converter()


def _objects_only(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
    """cattrs reads a class from anything with ``in`` and ``[]``: a string would do."""
    fields = make_dict_structure_fn(cls, _converter)

    def structure(value: Any, kind: type[Any]) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return fields(value, kind)

    return structure


_converter.register_structure_hook_factory(attrs.has, _objects_only)


def parse_health(key: str, raw: bytes) -> Health:
    """The snapshot stored under ``key``, or :class:`MalformedHealthRecord`."""

    def malformed(what: str) -> MalformedHealthRecord:
        return MalformedHealthRecord(f"health record of {key} is malformed: {what}")

    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed(f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise malformed(f"not a JSON object but {type(doc).__name__}")
    try:
        record = _converter.structure(doc, HealthRecord)
    except cattrs.BaseValidationError as exc:
        errors = cattrs.transform_error(exc, path="record")
        more = len(errors) - MAX_ERRORS_SHOWN
        raise malformed(
            "; ".join(errors[:MAX_ERRORS_SHOWN]) + (f" (and {more} more)" if more > 0 else "")
        ) from None
    if record.version != VERSION:
        raise malformed(f"version {record.version} (this orders reads version {VERSION})")
    return Health(key, doc, record)


def _market_of(shard: str) -> str:
    return shard.split("#", 1)[0]


def for_markets(health: Health, markets: Sequence[str]) -> Health | None:
    """``health`` narrowed to ``markets`` (its connections and market sections): None
    when the run records none of them. A record without sections is kept whole."""
    rec = health.record
    if not rec.markets:
        return health
    kept = [m for m in rec.markets if m in markets]
    if not kept:
        return None
    doc = dict(health.doc)
    doc["connections"] = [
        c for c in doc.get("connections", []) if _market_of(str(c.get("shard"))) in kept
    ]
    doc["markets"] = {m: v for m, v in doc.get("markets", {}).items() if m in kept}
    record = attrs.evolve(
        rec,
        connections=tuple(c for c in rec.connections if _market_of(c.shard) in kept),
        markets={m: rec.markets[m] for m in kept},
    )
    return Health(health.key, doc, record)


def read_health(r: RedisClient, keyspace: Keyspace) -> list[Health]:
    """Every live ingester's snapshot (SCAN over ``Keyspace.health_pattern()``)."""
    out = []
    for key in sorted(r.scan_iter(match=keyspace.health_pattern(), count=500)):
        raw = cast(bytes | None, r.get(key))
        if raw is not None:  # else: expired between SCAN and GET
            out.append(parse_health(key.decode(), raw))
    return out


def any_health(r: RedisClient, keyspace: Keyspace) -> bool:
    """Whether any ingester publishes health to ``keyspace`` (whatever its record holds)."""
    return next(iter(r.scan_iter(match=keyspace.health_pattern(), count=500)), None) is not None


def ingesters_elsewhere(r: RedisClient, keyspace: Keyspace) -> str | None:
    """Which other namespaces have live ingesters, for a command that found none in its
    own: ``2 ingesters report under namespace 'demo', 1 under 'prod'`` (None: none)."""
    here = keyspace.namespace.rstrip(":")
    counts: dict[str, int] = {}
    for key in r.scan_iter(match=HEALTH_ANY_NAMESPACE, count=500):
        ns = health_namespace(key.decode(errors="replace"))
        if ns != here:
            counts[ns] = counts.get(ns, 0) + 1
    if not counts:
        return None
    (ns0, n0), *rest = sorted(counts.items())
    verb = "ingester reports" if n0 == 1 else "ingesters report"
    more = "".join(
        f", {n} under {ns!r}" if ns else f", {n} under the default one" for ns, n in rest
    )
    first = f"namespace {ns0!r}" if ns0 else "the default namespace (no --namespace)"
    return f"{n0} {verb} under {first}{more}"


def evaluate(
    records: Sequence[HealthRecord],
    limits: StatusLimits,
    now_ms: int,
    redis_diag: RedisDiagnosis | None = None,
    elsewhere: str | None = None,
) -> Verdict:
    """Problems make ``orders status`` exit 1; warnings are shown only. ``elsewhere``:
    the other namespaces' live ingesters (:func:`ingesters_elsewhere`), named when there
    is none here."""
    problems: list[str] = []
    warnings: list[str] = []
    connected = redis_diag.connected_ingesters if redis_diag is not None else ()
    if redis_diag is not None:
        lefts = [rec.redis.time_to_full_s for rec in records if rec.redis.time_to_full_s]
        judge_redis(redis_diag, lefts, problems, warnings)
    reporting = {rec.ingester_id for rec in records}
    silent = [i for i in connected if i not in reporting]
    if silent:
        problems.append(
            f"ingester {', '.join(silent)} is connected to Redis but reports no health"
            " (its health key is missing: are its writes refused?)"
        )
    elif not records:
        hint = f"; {elsewhere}" if elsewhere else ""
        problems.append(
            f"no live ingester (no health key: `{command('run')}` is not running here){hint}"
        )
    for rec in records:
        who = rec.ingester_id
        lag_s = max(0.0, (now_ms - rec.heartbeat_ms) / 1000)
        if not rec.connections:  # starting, or every connection given up: nothing flows
            problems.append(f"{who}: no connections (no trade can arrive)")
        for c in rec.connections:
            if c.clock_offset_ms is not None and abs(c.clock_offset_ms) > CLOCK_OFFSET_LIMIT_MS:
                warnings.append(
                    f"{who}: connection {c.shard}: host clock {c.clock_offset_ms / 1000:+.1f}s"
                    " off the exchange's event times"
                )
            if c.silent_alarm:
                problems.append(f"{who}: connection {c.shard}: {c.silent_alarm}")
            down_for = c.state_for_s + lag_s
            if c.state != "live" and down_for > limits.max_down_s:
                problems.append(
                    f"{who}: connection {c.shard} is {c.state} for {down_for:.0f}s"
                    f" (> {limits.max_down_s:g}s)" + (f": {c.last_error}" if c.last_error else "")
                )
        by_market = {f"{who}: {m}": sec.gaps for m, sec in rec.markets.items()}
        for whose, gaps in (by_market or {who: rec.gaps}).items():
            age = gaps.oldest_open_age_s
            if age is not None and gaps.open and age + lag_s > limits.max_gap_age_s:
                problems.append(
                    f"{whose}: {gaps.open} open gap(s), oldest {age + lag_s:.0f}s old"
                    f" (> {limits.max_gap_age_s:g}s)"
                )
        red = rec.redis
        if red.state not in (None, "ok"):  # "unknown": no write confirmed yet
            why = f" ({red.refusal})" if red.refusal else ""
            problems.append(f"{who}: Redis is {red.state}{why}")
        if red.memory_alert:
            left = red.time_to_full_s
            full = f", full in {format_duration(left)}" if left else ""
            warnings.append(f"{who}: Redis memory at {100 * (red.used_ratio or 0):.0f}%{full}")
        if red.eviction_policy and red.eviction_policy != "noeviction" and red.maxmemory:
            warnings.append(f"{who}: Redis may evict keys (maxmemory-policy {red.eviction_policy})")
    return Verdict(healthy=not problems, problems=tuple(problems), warnings=tuple(warnings))


def check_status(
    r: RedisClient,
    keyspace: Keyspace,
    limits: StatusLimits,
    now_ms: int,
    markets: Sequence[str] | None = None,
) -> tuple[list[Health], RedisDiagnosis, Verdict]:
    """Everything ``orders status`` shows: the snapshots, Redis' own state, the verdict.
    ``markets``: only the runs recording one of them, narrowed to them (None: all)."""
    every = read_health(r, keyspace)
    snaps = every
    if markets is not None:
        snaps = [h for h in (for_markets(s, markets) for s in every) if h is not None]
    diag = diagnose_redis(r)
    elsewhere = None if snaps else ingesters_elsewhere(r, keyspace)
    if every and not snaps:  # runs here, of other markets
        others = sorted({m for h in every for m in h.record.markets})
        elsewhere = f"the ingesters here record {', '.join(others)}, not {', '.join(markets or [])}"
    return snaps, diag, evaluate([h.record for h in snaps], limits, now_ms, diag, elsewhere)
