"""What Redis says about itself (``orders status``): INFO memory / persistence /
replication and the ingesters' named connections (CLIENT LIST), read-only, and the
problems and warnings they make.

On a Redis Cluster both are asked of every primary on its own: a cluster client sends
INFO and CLIENT LIST to one node, whose memory is a third of the data and whose clients
are not the ingester's connections to the others. One full primary refuses the writes of
its slots, so the diagnosis refuses when any primary does and names it; memory is shown
per primary and summed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import redis

from orders_cli.durations import format_duration
from orders_cli.redis_conn import MEMORY_WARN_RATIO, client_mode, named_ingesters, primaries
from orders_cli.redis_types import RedisClient


@attrs.frozen(slots=True)
class NodeDiagnosis:
    """One primary of a cluster, as it says itself. ``refusing``: the code its writes
    answer now."""

    node: str  # host:port
    refusing: str | None
    detail: str
    used_memory: int
    maxmemory: int
    policy: str
    role: str
    connected_ingesters: tuple[str, ...]


@attrs.frozen(slots=True)
class RedisDiagnosis:
    """What Redis says about itself. ``refusing``: the code its writes answer now. On a
    cluster (``mode``), ``primaries`` has each one and the rest sums them up: memory
    summed (``maxmemory`` 0 unless every primary has a limit), the first refusal."""

    refusing: str | None
    detail: str
    used_memory: int
    maxmemory: int
    policy: str
    role: str
    connected_ingesters: tuple[str, ...]
    mode: str = "standalone"  # standalone | sentinel | cluster
    primaries: tuple[NodeDiagnosis, ...] = ()


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _node(name: str, client: redis.Redis) -> NodeDiagnosis:
    info: dict[str, Any] = {}
    for section in ("memory", "persistence", "replication"):
        info.update(client.info(section))
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
        detail = f"used {mib(used)} of maxmemory {mib(maxmem)} with noeviction"
    ingesters = tuple(named_ingesters(client))
    return NodeDiagnosis(name, refusing, detail, used, maxmem, policy, role, ingesters)


def diagnose_redis(r: RedisClient) -> RedisDiagnosis:
    """INFO memory / persistence / replication and CLIENT LIST of the server, or of every
    primary of a cluster; read-only."""
    nodes = [_node(name, client) for name, client in primaries(r)]
    kind = client_mode(r)
    if kind != "cluster":
        (one,) = nodes
        fields = attrs.asdict(one, recurse=False)
        del fields["node"]
        return RedisDiagnosis(**fields, mode=kind)
    refusing = [n for n in nodes if n.refusing is not None]
    limited = all(n.maxmemory for n in nodes)
    return RedisDiagnosis(
        refusing=refusing[0].refusing if refusing else None,
        detail="; ".join(
            f"primary {n.node}: {n.detail} (the writes to its slots)" for n in refusing
        ),
        used_memory=sum(n.used_memory for n in nodes),
        maxmemory=sum(n.maxmemory for n in nodes) if limited else 0,
        policy=",".join(sorted({n.policy for n in nodes})),
        role=",".join(sorted({n.role for n in nodes})),
        connected_ingesters=tuple(sorted({i for n in nodes for i in n.connected_ingesters})),
        mode=kind,
        primaries=tuple(nodes),
    )


def judge_redis(
    diag: RedisDiagnosis,
    times_to_full: Sequence[float],
    problems: list[str],
    warnings: list[str],
) -> None:
    """A refusal is a problem; memory past :data:`MEMORY_WARN_RATIO` of its limit (on one
    server, or on any primary of a cluster) a warning. ``times_to_full``: what the
    ingesters measured (the shortest is shown)."""
    if diag.refusing is not None:
        who = ", ".join(diag.connected_ingesters)
        alive = f"ingester {who} alive, " if who else ""
        problems.append(f"{alive}Redis refusing writes ({diag.refusing}): {diag.detail}")
        return
    full = (
        f", full in {format_duration(min(times_to_full))} at the current rate"
        if times_to_full
        else ""
    )
    each = [("", diag.used_memory, diag.maxmemory)]
    if diag.primaries:
        each = [(f" primary {n.node}", n.used_memory, n.maxmemory) for n in diag.primaries]
    for where, used, maxmem in each:
        if maxmem and used >= MEMORY_WARN_RATIO * maxmem:
            warnings.append(
                f"Redis{where} memory at {100 * used / maxmem:.0f}% "
                f"({mib(used)} of {mib(maxmem)}){full}"
            )
