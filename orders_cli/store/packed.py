"""A pipeline of pre-packed commands on one redis-py connection per server.

redis-py's ``Pipeline`` re-checks and converts every argument in Python (about 0.7 µs per
argument: a symbol's apply has ~60); ``hiredis.pack_command`` does the same in C. Used for
the writer's EVALSHA round, the hot path. Replies are read in order; an error reply is
returned in its place (like ``execute(raise_on_error=False)``); a connection error drops
the connection and propagates (the caller reloads its state).

On a Redis Cluster (:func:`execute_routed`) each command carries a key that names its slot:
the commands are sent to the primary of that slot, a packed connection per node, and the
replies put back in order. A ``MOVED`` reply refreshes the slot map and an ``ASK`` reply is
followed (``ASKING``, then the command on the node it names), once; a command redirected
again keeps its error reply, which is transient (the caller retries it next round).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import hiredis
import redis
import redis.exceptions
from redis.cluster import ClusterNode

from orders_cli.redis_errors import LOST
from orders_cli.redis_types import RedisClient

Command = Sequence[bytes | str | int]
Keyed = tuple[str, Command]
"""A command and one of its keys (the one that names its cluster slot)."""
CHUNK = 64  # commands per write: small enough to overlap, large enough to amortise
# hiredis' stub says tuple[str | int | float | bytes | memoryview] (one element): wrong


def _pack(command: Command) -> bytes:
    return hiredis.pack_command(tuple(command))  # type: ignore[arg-type,no-any-return]  # stub: see above


class _Link:
    """Packed commands on one borrowed connection: written in chunks, replies read in order
    into ``out`` at the indexes they were sent for."""

    def __init__(self, pool: redis.ConnectionPool, chunk: int) -> None:
        self.pool = pool
        self.chunk = chunk
        # Any: redis-py leaves Connection's send_packed_command/read_response unannotated
        self.conn: Any = pool.get_connection()
        self.buf: list[bytes] = []
        self.sent: list[int | None] = []  # None: a reply to read and drop (ASKING)

    def add(self, index: int | None, packed: bytes) -> None:
        self.buf.append(packed)
        self.sent.append(index)
        if len(self.buf) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            # a list of chunks (a bare bytes object would be iterated byte by byte)
            self.conn.send_packed_command([b"".join(self.buf)])
            self.buf = []

    def read(self, out: list[Any]) -> None:
        self.flush()
        for index in self.sent:
            try:
                reply = self.conn.read_response()
            except redis.exceptions.ResponseError as exc:
                reply = exc
            if index is not None:
                out[index] = reply
        self.sent = []

    def release(self, broken: bool) -> None:
        if broken:
            self.conn.disconnect()  # it may hold replies we will not read: never reuse it
        self.pool.release(self.conn)


def execute(client: redis.Redis, commands: Iterable[Command], *, chunk: int = CHUNK) -> list[Any]:
    """Send ``commands`` to one server and return their replies (errors as values), in order.

    ``commands`` may be a generator: every ``chunk`` commands are written as soon as they
    are built, so Redis runs the first symbols' scripts while the caller's Python builds
    the next ones (the writer's round used to be "all Python, then all Redis")."""
    link = _Link(client.connection_pool, chunk)
    n = 0
    try:
        for command in commands:
            link.add(n, _pack(command))
            n += 1
        out: list[Any] = [None] * n
        link.read(out)
        link.release(broken=False)
        return out
    except BaseException:
        link.release(broken=True)
        raise


def execute_routed(client: RedisClient, keyed: Iterable[Keyed], *, chunk: int = CHUNK) -> list[Any]:
    """:func:`execute` for one server; on a cluster, each command on its slot's primary."""
    if isinstance(client, redis.Redis):
        return execute(client, (command for _, command in keyed), chunk=chunk)
    commands: list[Command] = []
    links: dict[str, _Link] = {}
    try:
        for key, command in keyed:
            _link(links, _primary(client, key), chunk).add(len(commands), _pack(command))
            commands.append(command)
        out: list[Any] = [None] * len(commands)
        for link in links.values():
            link.read(out)
        _follow_redirects(client, commands, out, links, chunk)
        for link in links.values():
            link.release(broken=False)
        return out
    except BaseException as exc:
        for link in links.values():
            link.release(broken=True)
        if isinstance(exc, LOST):
            _refresh(client)  # a node may be gone: its replica may be the primary now
        raise


def _primary(client: redis.RedisCluster, key: str) -> ClusterNode:
    node: ClusterNode = client.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py: unannotated
    return node


def _link(links: dict[str, _Link], node: ClusterNode, chunk: int) -> _Link:
    link = links.get(node.name)
    if link is None:
        link = links[node.name] = _Link(node.redis_connection.connection_pool, chunk)
    return link


def _follow_redirects(
    client: redis.RedisCluster,
    commands: list[Command],
    out: list[Any],
    links: dict[str, _Link],
    chunk: int,
) -> None:
    redirected = [i for i, r in enumerate(out) if isinstance(r, redis.exceptions.AskError)]
    if not redirected:
        return
    if any(isinstance(out[i], redis.exceptions.MovedError) for i in redirected):
        _refresh(client)
    again: dict[str, _Link] = {}
    for i in redirected:
        error: redis.exceptions.AskError = out[i]
        node: ClusterNode | None = client.get_node(host=error.host, port=error.port)  # type: ignore[no-untyped-call]  # redis-py: unannotated
        if node is None:
            continue  # a node the slot map does not know yet: the caller retries
        link = links.get(node.name) or _link(again, node, chunk)
        if not isinstance(error, redis.exceptions.MovedError):
            link.add(None, _pack(("ASKING",)))
        link.add(i, _pack(commands[i]))
    for link in [*links.values(), *again.values()]:
        if link.sent:
            link.read(out)
    links.update(again)


def _refresh(client: redis.RedisCluster) -> None:
    """Ask the cluster for its slot map again (a failover, a resharding)."""
    # no node answering now is no error here: the next round's error says so, and refreshes
    with contextlib.suppress(redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
        client.nodes_manager.initialize()
