"""Connecting to Redis: URL checks, the sync redis-py client every layer uses, and the
server facts (version, memory, eviction policy) that ``run`` and ``status`` show.

Eviction rule (:func:`eviction_warning`): Redis evicts keys only when ``maxmemory`` is
set (non-zero) and the policy is not ``noeviction``. With ``maxmemory 0`` no policy ever
evicts, so there is nothing to warn about; with a limit and an evicting policy (``allkeys-*``
or ``volatile-*``; orders sets no TTLs on data keys, but a shared server may) trades could
silently vanish, which breaks the completeness guarantee, so we warn.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
import redis

from orders_cli.errors import RedisUnavailable, UsageError
from orders_cli.redis_types import RedisClient

REDIS_SCHEMES: tuple[str, ...] = ("redis", "rediss", "unix")
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 30


def validate_redis_url(url: str) -> str:
    """Return ``url`` if it is a ``redis://``, ``rediss://`` or ``unix://`` URL, else raise
    :class:`UsageError`."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UsageError(f"invalid Redis URL {url!r}: {exc}") from exc
    if parts.scheme not in REDIS_SCHEMES:
        raise UsageError(
            f"invalid Redis URL {url!r}: expected redis://HOST:PORT/DB, rediss://... "
            "or unix:///path/to/redis.sock"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise UsageError(f"invalid Redis URL {url!r}: unix:// needs a socket path")
    else:
        if not parts.hostname:
            raise UsageError(f"invalid Redis URL {url!r}: missing host")
        try:
            _ = parts.port
        except ValueError as exc:
            raise UsageError(f"invalid Redis URL {url!r}: {exc}") from exc
        db = parts.path.lstrip("/")
        if db and not db.isdigit():  # redis-py would quietly use DB 0
            raise UsageError(f"invalid Redis URL {url!r}: the database is a number (/0, /1…)")
    return url


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def connect(url: str) -> redis.Redis:
    """A sync redis-py client (bytes replies) with timeouts and health checks.

    Does not talk to the server yet; use :func:`check` to fail early.
    """
    validate_redis_url(url)
    try:
        return redis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
        )
    except ValueError as exc:  # redis-py's URL parser (bad db number, bad query args)
        raise UsageError(f"invalid Redis URL {redact(url)!r}: {exc}") from exc


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


def check(url: str, client: RedisClient | None = None) -> ServerFacts:
    """PING and INFO the server; :class:`RedisUnavailable` with one line if that fails."""
    own = client is None
    r = connect(url) if client is None else client
    try:
        r.ping()
        info = r.info("server")
        info.update(r.info("memory"))
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}") from exc
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
        mode=_str(info.get("redis_mode")) or "standalone",
    )


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
