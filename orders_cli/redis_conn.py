"""Connecting to Redis: the sync redis-py client every layer uses (its URL checked by
:mod:`orders_cli.redis_url`), and the server facts (version, memory, eviction policy) that
``run`` and ``status`` show.

Eviction rule (:func:`eviction_warning`): Redis evicts keys only when ``maxmemory`` is
set (non-zero) and the policy is not ``noeviction``. With ``maxmemory 0`` no policy ever
evicts, so there is nothing to warn about; with a limit and an evicting policy (``allkeys-*``
or ``volatile-*``; orders sets no TTLs on data keys, but a shared server may) trades could
silently vanish, which breaks the completeness guarantee, so we warn.
"""

from __future__ import annotations

from typing import Any

import attrs
import redis
import redis.sentinel
from redis.cluster import ClusterNode
from redis.exceptions import RedisClusterException

from orders_cli.errors import RedisUnavailable, UsageError
from orders_cli.redis_errors import classify
from orders_cli.redis_types import RedisClient
from orders_cli.redis_url import BOOLS, Nodes, parse_nodes, redact, validate_redis_url

SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 30
INGESTER_NAME_PREFIX = "orders-ingester:"
"""``CLIENT SETNAME`` of an ingester's connections: ``orders status`` finds a running
ingester in ``CLIENT LIST`` even while Redis refuses the writes of its health key."""
MEMORY_WARN_RATIO = 0.8


TIMEOUTS: dict[str, Any] = {
    "socket_timeout": SOCKET_TIMEOUT_S,
    "socket_connect_timeout": CONNECT_TIMEOUT_S,
    "health_check_interval": HEALTH_CHECK_INTERVAL_S,
}


def connect(url: str) -> RedisClient:
    """A sync redis-py client (bytes replies) with timeouts and health checks: a
    ``redis.Redis`` for one server or a Sentinel-managed primary, a ``redis.RedisCluster``
    for ``redis+cluster://`` (which asks a startup node for the slot map at once: an
    unreachable cluster is :class:`RedisUnavailable` here).

    A single server is not talked to yet; use :func:`check` to fail early.
    """
    validate_redis_url(url)
    nodes = parse_nodes(url)
    if nodes is not None:
        return _cluster(url, nodes) if nodes.kind == "cluster" else _sentinel_primary(nodes)
    try:
        return redis.Redis.from_url(url, decode_responses=False, **TIMEOUTS)
    except ValueError as exc:  # redis-py's URL parser (bad db number, bad query args)
        raise UsageError(f"invalid Redis URL {redact(url)!r}: {exc}") from exc


def _tls(nodes: Nodes) -> dict[str, Any]:
    if not nodes.tls:
        return {}
    out: dict[str, Any] = {"ssl": True}
    for key, value in nodes.options:
        out[key] = BOOLS[value.lower()] if key == "ssl_check_hostname" else value
    return out


def _cluster(url: str, nodes: Nodes) -> redis.RedisCluster:
    try:
        return redis.RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes.addresses],  # type: ignore[no-untyped-call]  # redis-py leaves ClusterNode unannotated
            username=nodes.username,
            password=nodes.password,
            decode_responses=False,
            **_tls(nodes),
            **TIMEOUTS,
        )
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as exc:
        raise RedisUnavailable(f"cannot reach Redis Cluster at {redact(url)}: {exc}") from exc


def _sentinel_primary(nodes: Nodes) -> redis.Redis:
    """The primary the sentinels name; its pool asks them again after a failover."""
    own = dict(nodes.options).get("sentinel_password")
    sentinels = redis.sentinel.Sentinel(
        list(nodes.addresses),
        sentinel_kwargs={
            "password": own,
            "socket_timeout": SOCKET_TIMEOUT_S,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
        },
    )
    primary: redis.Redis = sentinels.master_for(
        nodes.master,
        db=nodes.db,
        username=nodes.username,
        password=nodes.password,
        decode_responses=False,
        **TIMEOUTS,
    )
    return primary


def _sentinel_pool(client: RedisClient) -> redis.sentinel.SentinelConnectionPool | None:
    pool = getattr(client, "connection_pool", None)
    return pool if isinstance(pool, redis.sentinel.SentinelConnectionPool) else None


def sentinel_managed(client: RedisClient) -> bool:
    """``client`` writes to the primary that sentinels name (a ``redis+sentinel://`` URL)."""
    return _sentinel_pool(client) is not None


def sentinel_primary(client: RedisClient, *, ask: bool = False) -> str | None:
    """``"MASTER at HOST:PORT"``: the primary a Sentinel-managed ``client`` writes to (None
    for other clients, or before its first connection). ``ask``: ask the sentinels first;
    after a failover, the idle connections to the former primary are closed, so the next
    command goes to the new one (a connection only asks when it connects: until the
    sentinels demote the former primary, and cut its clients off, it would still take
    writes that its resync then discards). Talks to the sentinels: a worker thread only."""
    pool = _sentinel_pool(client)
    if pool is None:
        return None
    address = pool.get_master_address() if ask else pool.master_address  # type: ignore[no-untyped-call]  # redis-py: unannotated
    if address is None:
        return None
    host, port = address
    return f"{pool.service_name} at {host}:{port}"


def client_mode(client: RedisClient) -> str:
    """How ``client`` reaches Redis: ``cluster``, ``sentinel`` or ``standalone``."""
    if isinstance(client, redis.RedisCluster):
        return "cluster"
    return "sentinel" if sentinel_managed(client) else "standalone"


@attrs.frozen(slots=True)
class ServerFacts:
    """What INFO says about the server, as far as orders cares."""

    url: str
    version: str
    used_memory: int
    maxmemory: int  # 0 = no limit
    maxmemory_policy: str
    mode: str = "standalone"  # standalone | cluster | sentinel


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | str | bytes) else 0


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value) if value is not None else ""


UNREACHABLE_HINT = "is redis-server running? omit --redis-url for the embedded one"


def check(url: str, client: RedisClient | None = None, *, given: bool = False) -> ServerFacts:
    """PING and INFO the server; :class:`RedisUnavailable` with one line if that fails.
    ``given``: the user named ``url`` (--redis-url): an unreachable one gets a hint."""
    own = client is None
    r = connect(url) if client is None else client
    try:
        try:
            r.ping()
        except redis.ResponseError as exc:  # MISCONF refuses PING too: reachable though
            if not classify(exc).transient:
                raise
        info = r.info("server")
        info.update(r.info("memory"))
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}") from exc
    except redis.sentinel.MasterNotFoundError as exc:  # its message holds a client's repr
        raise RedisUnavailable(_no_primary(url)) from exc
    except (redis.ConnectionError, redis.TimeoutError, RedisClusterException, OSError) as exc:
        hint = f"; {UNREACHABLE_HINT}" if given else ""
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}{hint}") from exc
    except redis.ResponseError as exc:  # e.g. NOAUTH, LOADING, MISCONF
        raise RedisUnavailable(f"Redis at {redact(url)} refused: {exc}") from exc
    finally:
        if own:
            r.close()
    return ServerFacts(
        url=redact(url),
        version=_str(info.get("redis_version")),
        used_memory=_int(info.get("used_memory")),
        maxmemory=_int(info.get("maxmemory")),
        maxmemory_policy=_str(info.get("maxmemory_policy")) or "noeviction",
        mode=_mode(r, info),
    )


def _no_primary(url: str) -> str:
    nodes = parse_nodes(url)
    master = nodes.master if nodes is not None else "?"
    where = ", ".join(f"{h}:{p}" for h, p in nodes.addresses) if nodes is not None else "?"
    return (
        f"cannot reach Redis at {redact(url)}: no sentinel ({where}) answered with a primary "
        f"named {master!r}; are the sentinels running, and is that the name they monitor?"
    )


def _mode(client: RedisClient, info: dict[str, Any]) -> str:
    """:func:`client_mode`, or what a server reached as one server says it is."""
    mode = client_mode(client)
    return mode if mode != "standalone" else _str(info.get("redis_mode")) or mode


def eviction_warning(facts: ServerFacts) -> str | None:
    """A one-line warning if this server can evict our keys, else ``None``.

    Warns exactly when ``maxmemory != 0`` and ``maxmemory-policy != noeviction``.
    """
    if facts.maxmemory == 0 or facts.maxmemory_policy == "noeviction":
        return None
    return (
        f"Redis at {facts.url} may evict keys (maxmemory {facts.maxmemory} bytes, "
        f"maxmemory-policy {facts.maxmemory_policy}): stored trades could silently vanish; "
        "use `CONFIG SET maxmemory-policy noeviction` or a dedicated server"
    )


def ingester_name(ingester_id: str) -> str:
    """The connection name of ingester ``ingester_id`` (no spaces: CLIENT SETNAME)."""
    return INGESTER_NAME_PREFIX + "_".join(ingester_id.split())


def name_connections(client: RedisClient, name: str) -> None:
    """Every connection ``client`` opens from now on runs ``CLIENT SETNAME name`` (also
    after a reconnect); the open ones are closed so that they reopen under it. On a
    cluster: the pool of every node known now, and the nodes a later slot map names (a
    promoted replica); the primaries are connected at once."""
    if isinstance(client, redis.Redis):
        _name_pool(client.connection_pool, name)
        client.client_getname()  # connects (and names) now; not a write: passes MISCONF
        return
    manager = client.nodes_manager
    manager.connection_kwargs["client_name"] = name  # the nodes of a later slot map
    pools = {
        id(r.connection_pool): r.connection_pool
        for node in [*_nodes(client), *manager.startup_nodes.values()]
        if (r := node.redis_connection) is not None
    }
    for pool in pools.values():
        _name_pool(pool, name)
    for node in _nodes(client, primaries=True):
        node.redis_connection.client_getname()


def _nodes(client: redis.RedisCluster, *, primaries: bool = False) -> list[ClusterNode]:
    """The nodes of ``client``'s slot map now (only the primaries: ``primaries``)."""
    nodes: list[ClusterNode] = client.get_primaries() if primaries else client.get_nodes()  # type: ignore[no-untyped-call]  # redis-py leaves both unannotated
    return nodes


def primaries(client: RedisClient) -> list[tuple[str, redis.Redis]]:
    """``(host:port, client)`` of every primary of a cluster (as its slot map says now),
    sorted; ``[("", client)]`` for one server. ``INFO`` and ``CLIENT LIST`` sent through
    a cluster client answer for one node only: ask each of these instead."""
    if isinstance(client, redis.Redis):
        return [("", client)]
    nodes = sorted(_nodes(client, primaries=True), key=lambda n: (n.host, int(n.port)))
    return [(str(n.name), client.get_redis_connection(n)) for n in nodes]


def memory(client: RedisClient) -> tuple[int, int, str]:
    """``(used_memory, maxmemory, maxmemory_policy)`` of the server, or of a cluster's
    primaries together: used summed; the limit summed if every primary has one, else 0
    (no limit); the policy of the first primary."""
    infos = [server.info("memory") for _, server in primaries(client)]
    used = sum(_int(i.get("used_memory")) for i in infos)
    limits = [_int(i.get("maxmemory")) for i in infos]
    limit = sum(limits) if all(limits) else 0
    return used, limit, _str(infos[0].get("maxmemory_policy")) or "noeviction"


def _name_pool(pool: redis.ConnectionPool, name: str) -> None:
    pool.connection_kwargs["client_name"] = name
    pool.disconnect()
    pool.reset()  # the pooled connection objects keep their own name: new ones instead


def named_ingesters(client: RedisClient) -> list[str]:
    """Ids of the ingesters connected now (``CLIENT LIST``, by :func:`ingester_name`; of
    every primary of a cluster); none when the ACL does not allow CLIENT LIST."""
    names: set[str] = set()
    for _, server in primaries(client):
        try:
            clients = server.client_list()
        except redis.ResponseError:
            return []
        names.update(str(c.get("name", "")) for c in clients)
    return sorted(
        n[len(INGESTER_NAME_PREFIX) :] for n in names if n.startswith(INGESTER_NAME_PREFIX)
    )


def time_to_full_s(used: int | None, maxmemory: int | None, rate: float | None) -> float | None:
    """Seconds until ``used`` reaches ``maxmemory`` at ``rate`` bytes/s; ``None`` when
    there is no limit or memory is not growing; 0 when already full."""
    if not used or not maxmemory:
        return None
    if used >= maxmemory:
        return 0.0
    if rate is None or rate <= 0:
        return None
    return (maxmemory - used) / rate
