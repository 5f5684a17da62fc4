"""What the commands that span symbols need on a Redis Cluster, and do the plain way on one
server:

- each primary's own client (:func:`orders_cli.redis_conn.primaries`): ``INFO`` and
  ``CLIENT LIST`` sent through a cluster client answer for one node only;
- a ``MULTI``/``EXEC`` on the primary of one symbol's slot (:func:`slot_transaction`):
  redis-py's cluster transaction returns the replies unparsed (an ``XREVRANGE`` comes back
  as lists, not ``(id, fields)`` pairs) and refuses ``TIME``;
- ``XREAD`` of streams in different slots (:func:`xread_streams`): one call cannot span
  slots, so each slot is read on its own, pipelined per node.

Sync (redis-py), run in a worker thread like every Redis call of the commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import redis
import redis.exceptions
import redis.sentinel
from redis.cluster import ClusterNode
from redis.typing import KeyT, StreamIdT

from orders_cli.redis_errors import LOST, redirected
from orders_cli.redis_types import RedisClient
from orders_cli.store.query import Entry

REDIRECT_TRIES = 3
"""Attempts of one slot transaction while the slot map is stale (a failover, a resharding)."""
POLL_BLOCK_MS = 100
"""How long :func:`xread_streams` blocks on one slot while several are followed and none
has anything new: the longest a trade of another slot waits to be seen."""

StreamReply = list[tuple[bytes, list[Entry]]]
Cursors = Mapping[str, str]


def slot_transaction(
    r: RedisClient, key: str, queue: Callable[[redis.client.Pipeline], object]
) -> list[Any]:
    """``EXEC`` replies of the commands ``queue`` adds to a ``MULTI`` pipeline, parsed as on
    one server. Every command must be on ``key``'s slot (one symbol's hash tag). On a
    cluster it runs on that slot's primary; a redirect or a lost node refreshes the slot map
    and runs it again (:data:`REDIRECT_TRIES` times at most)."""
    if not isinstance(r, redis.RedisCluster):
        pipe = r.pipeline(transaction=True)
        queue(pipe)
        return pipe.execute()
    for attempt in range(1, REDIRECT_TRIES + 1):
        node: ClusterNode = r.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py: unannotated
        pipe = r.get_redis_connection(node).pipeline(transaction=True)
        queue(pipe)
        try:
            return pipe.execute()
        except redis.exceptions.ResponseError as exc:
            if not redirected(exc) or attempt == REDIRECT_TRIES:
                raise
        except LOST:
            if attempt == REDIRECT_TRIES:
                raise
        r.nodes_manager.initialize()
    raise AssertionError("unreachable: the last attempt returns or raises")


def _streams(cursors: Cursors) -> dict[KeyT, StreamIdT]:
    return dict(cursors.items())


def _by_slot(r: redis.RedisCluster, cursors: Cursors) -> list[dict[KeyT, StreamIdT]]:
    groups: dict[int, dict[KeyT, StreamIdT]] = {}
    for key, cursor in cursors.items():
        slot: int = r.keyslot(key)  # type: ignore[no-untyped-call]  # redis-py: unannotated
        groups.setdefault(slot, {})[key] = cursor
    return [groups[slot] for slot in sorted(groups)]


def xread_streams(r: RedisClient, cursors: Cursors, count: int, block_ms: int) -> StreamReply:
    """``XREAD COUNT count BLOCK block_ms STREAMS`` of ``cursors`` (key -> last id read):
    the new entries of each stream that has some, waiting up to ``block_ms`` (> 0) for
    one; ``[]`` when none came.

    On a cluster the streams of one slot are one ``XREAD``; with several slots every slot
    is read without blocking (one pipeline round trip per node) and, while none has
    anything, one slot after the other is blocked on for :data:`POLL_BLOCK_MS`."""
    if not isinstance(r, redis.RedisCluster) or len(groups := _by_slot(r, cursors)) == 1:
        return cast(StreamReply, r.xread(_streams(cursors), count=count, block=block_ms) or [])
    deadline = time.monotonic() + block_ms / 1000
    turn = 0
    while True:
        pipe = r.pipeline(transaction=False)  # type: ignore[no-untyped-call]  # redis-py: unannotated
        for group in groups:
            pipe.xread(group, count=count)
        replies = cast(list[StreamReply | None], pipe.execute())
        found = [stream for reply in replies for stream in reply or []]
        left_ms = int((deadline - time.monotonic()) * 1000)
        if found or left_ms <= 0:
            return found
        group = groups[turn % len(groups)]
        turn += 1
        wait_ms = min(POLL_BLOCK_MS, left_ms)
        got = cast(StreamReply | None, r.xread(group, count=count, block=wait_ms))
        if got:
            return got
