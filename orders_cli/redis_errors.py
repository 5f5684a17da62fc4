"""Redis error replies, classified once, by their code (the reply's first word).

- the server refuses writes for now (:data:`TRANSIENT`: out of memory, a replica, failing
  persistence, loading, a busy script, a cluster in flux): retry with backoff, nothing is
  lost and nothing is wrong with what we sent;
- ``NOSCRIPT``: the script cache was flushed (restart, failover, SCRIPT FLUSH): load it
  and retry;
- anything else (``ERR``, ``WRONGTYPE``...): this command will fail again as it is.

redis-py strips the code from the message of the errors it knows (and maps them to
classes), and leaves it in the message of the others: both are read here.
"""

from __future__ import annotations

import re

import attrs
import redis.exceptions

from orders_cli.errors import OrdersError, RedisRefusing, RedisRejected

SLOT_MOVING: frozenset[str] = frozenset({"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"})
"""A cluster whose slot map is moving (a failover, a resharding): ask for it again, retry."""
TRANSIENT: frozenset[str] = SLOT_MOVING | {
    "OOM",
    "READONLY",
    "MISCONF",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
}
NOSCRIPT = "NOSCRIPT"
LOST: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    # a cluster that no node of answers, a slot map with a hole, or a command redirected
    # again and again while slots move ("TTL exhausted"); not the other cluster client
    # errors (a cross-slot transaction...): those are our bugs and must not be retried
    redis.exceptions.RedisClusterUnreachableError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.ClusterError,
)
"""Redis cannot be reached now (no error reply to classify): wait and try again.
``ClusterDownError`` is a ``ClusterError`` and an error reply (CLUSTERDOWN): catch
``ResponseError`` first."""

_BY_CLASS: tuple[tuple[type[redis.exceptions.RedisError], str], ...] = (
    (redis.exceptions.OutOfMemoryError, "OOM"),
    (redis.exceptions.ReadOnlyError, "READONLY"),
    (redis.exceptions.NoScriptError, NOSCRIPT),
    (redis.exceptions.BusyLoadingError, "LOADING"),
    (redis.exceptions.TryAgainError, "TRYAGAIN"),
    (redis.exceptions.MasterDownError, "MASTERDOWN"),  # a ClusterDownError subclass: first
    (redis.exceptions.ClusterDownError, "CLUSTERDOWN"),
)
_CODE = re.compile(r"-?([A-Z][A-Z_]+)\b")
# Redis <= 6.x wraps an error raised inside a script: "Error running script (call to
# f_<sha>): @user_script:12: -OOM command not allowed ..."
_IN_SCRIPT = re.compile(r"^Error running script .*?: -?([A-Z][A-Z_]+) ")
# redis-py's pipelines: "Command # 1 (SADD k v) of pipeline caused error: WRONGTYPE ..."
_IN_PIPELINE = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ")


@attrs.frozen(slots=True)
class Refusal:
    code: str
    message: str

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT

    @property
    def noscript(self) -> bool:
        return self.code == NOSCRIPT


def classify(exc: redis.exceptions.ResponseError | redis.exceptions.BusyLoadingError) -> Refusal:
    """The code of an error reply and its message."""
    message = str(exc)
    in_pipeline = _IN_PIPELINE.match(message)
    if in_pipeline is not None:
        message = message[in_pipeline.end() :]
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return Refusal(code, message)
    status = getattr(exc, "status_code", None)
    if isinstance(status, str) and status:
        return Refusal(status, message)
    wrapped = _IN_SCRIPT.match(message)
    if wrapped is not None:
        return Refusal(wrapped.group(1), message)
    head = _CODE.match(message)
    return Refusal(head.group(1) if head is not None else "ERR", message)


def redirected(exc: redis.exceptions.ResponseError) -> bool:
    """``exc`` says the cluster's slot map is moving (:data:`SLOT_MOVING`), wherever
    redis-py put the code (its class, or the message of a pipeline's command)."""
    return classify(exc).code in SLOT_MOVING


def refusing(refusal: Refusal, what: str) -> RedisRefusing:
    return RedisRefusing(f"Redis refuses {what} ({refusal.code}): {refusal.message}", refusal.code)


def as_orders_error(refusal: Refusal, what: str) -> OrdersError:
    """:class:`RedisRefusing` for a transient refusal, else :class:`RedisRejected`."""
    if refusal.transient:
        return refusing(refusal, what)
    return RedisRejected(f"Redis rejected {what}: {refusal.message}", refusal.code)
