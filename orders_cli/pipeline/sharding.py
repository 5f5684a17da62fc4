"""Split a market's streams over connections: stable and balanced."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def plan_shards(streams: Sequence[str], max_per_connection: int) -> list[list[str]]:
    """Split ``streams`` into the fewest connections of at most ``max_per_connection``.

    Stable: the plan depends only on the set of streams (deduplicated, sorted), never on
    their input order. Balanced: shard sizes differ by at most one.
    """
    if max_per_connection < 1:
        raise ValueError(f"max_per_connection must be >= 1, got {max_per_connection}")
    ordered = sorted(set(streams))
    if not ordered:
        return []
    count = -(-len(ordered) // max_per_connection)
    size, extra = divmod(len(ordered), count)
    plan: list[list[str]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        plan.append(ordered[start:end])
        start = end
    return plan


def place(
    open_sizes: Sequence[int], streams: Iterable[str], max_per_connection: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Where new ``streams`` go, given connections of ``open_sizes`` streams already open:
    ``(fill, new)``: ``fill[i]`` joins open connection ``i`` (in order, while it has room),
    the rest is split by :func:`plan_shards` over new connections. At startup (nothing
    open) this is exactly :func:`plan_shards`: one policy for startup and listing changes.
    """
    pending = sorted(set(streams))
    fill: list[list[str]] = []
    for size in open_sizes:
        room = max(0, max_per_connection - size)
        fill.append(pending[:room])
        pending = pending[room:]
    return fill, plan_shards(pending, max_per_connection)
