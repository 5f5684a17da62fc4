"""A pipeline of pre-packed commands on one redis-py connection.

redis-py's ``Pipeline`` re-checks and converts every argument in Python (about 0.7 µs per
argument: a symbol's apply has ~60); ``hiredis.pack_command`` does the same in C. Used for
the writer's EVALSHA round, the hot path. Replies are read in order; an error reply is
returned in its place (like ``execute(raise_on_error=False)``); a connection error drops
the connection and propagates (the caller reloads its state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hiredis
import redis.exceptions

Command = Sequence[bytes | str | int]
# hiredis' stub says tuple[str | int | float | bytes | memoryview] (one element): wrong


def _pack(command: Command) -> bytes:
    return hiredis.pack_command(tuple(command))  # type: ignore[arg-type,no-any-return]  # stub: see above


def execute(client: Any, commands: Sequence[Command]) -> list[Any]:
    """Send ``commands`` in one write and return their replies (errors as values)."""
    if not commands:
        return []
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        # a list of chunks (a bare bytes object would be iterated byte by byte)
        packed = b"".join(_pack(c) for c in commands)
        conn.send_packed_command([packed])
        out: list[Any] = []
        for _ in commands:
            try:
                out.append(conn.read_response())
            except redis.exceptions.ResponseError as exc:
                out.append(exc)
        return out
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        conn.disconnect()  # its stream may hold unread replies: never reuse it
        raise
    finally:
        pool.release(conn)
