"""A pipeline of pre-packed commands on one redis-py connection.

redis-py's ``Pipeline`` re-checks and converts every argument in Python (about 0.7 µs per
argument: a symbol's apply has ~60); ``hiredis.pack_command`` does the same in C. Used for
the writer's EVALSHA round, the hot path. Replies are read in order; an error reply is
returned in its place (like ``execute(raise_on_error=False)``); a connection error drops
the connection and propagates (the caller reloads its state).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import hiredis
import redis
import redis.exceptions

from orders_cli.errors import UsageError
from orders_cli.redis_types import RedisClient

Command = Sequence[bytes | str | int]
CHUNK = 64  # commands per write: small enough to overlap, large enough to amortise
# hiredis' stub says tuple[str | int | float | bytes | memoryview] (one element): wrong


def _pack(command: Command) -> bytes:
    return hiredis.pack_command(tuple(command))  # type: ignore[arg-type,no-any-return]  # stub: see above


def execute(client: RedisClient, commands: Iterable[Command], *, chunk: int = CHUNK) -> list[Any]:
    """Send ``commands`` and return their replies (errors as values), in order.

    ``commands`` may be a generator: every ``chunk`` commands are written as soon as they
    are built, so Redis runs the first symbols' scripts while the caller's Python builds
    the next ones (the writer's round used to be "all Python, then all Redis")."""
    if not isinstance(client, redis.Redis):  # a cluster has a pool per node
        raise UsageError("the writer needs a single Redis server (Redis Cluster: not built yet)")
    pool = client.connection_pool
    # Any: redis-py leaves Connection's send_packed_command/read_response unannotated
    conn: Any = pool.get_connection()
    sent = 0
    try:
        buf: list[bytes] = []
        for command in commands:
            buf.append(_pack(command))
            if len(buf) >= chunk:
                # a list of chunks (a bare bytes object would be iterated byte by byte)
                conn.send_packed_command([b"".join(buf)])
                sent += len(buf)
                buf = []
        if buf:
            conn.send_packed_command([b"".join(buf)])
            sent += len(buf)
        out: list[Any] = []
        for _ in range(sent):
            try:
                out.append(conn.read_response())
            except redis.exceptions.ResponseError as exc:
                out.append(exc)
        return out
    except BaseException:
        conn.disconnect()  # it may hold replies we will not read: never reuse it
        raise
    finally:
        pool.release(conn)
