"""One placement policy for streams, at startup and when the listing adds symbols."""

from __future__ import annotations

from orders_cli.pipeline.sharding import place, plan_shards


def test_at_startup_placement_is_the_stable_balanced_plan() -> None:
    streams = [f"s{i:02d}@aggTrade" for i in range(23)]
    fill, new = place([], reversed(streams), 10)
    assert fill == []
    assert new == plan_shards(streams, 10)


def test_new_streams_fill_open_connections_first_then_open_balanced_ones() -> None:
    fill, new = place([3, 5, 4], ["e", "a", "d", "c", "b", "h", "g", "f", "a"], 5)
    assert fill == [["a", "b"], [], ["c"]]
    assert new == [["d", "e", "f", "g", "h"]]


def test_streams_that_do_not_fit_open_the_fewest_balanced_connections() -> None:
    fill, new = place([4], [f"n{i:02d}" for i in range(12)], 5)
    assert fill == [["n00"]]
    assert new == plan_shards([f"n{i:02d}" for i in range(1, 12)], 5)
    assert [len(g) for g in new] == [4, 4, 3]


def test_nothing_new_places_nothing() -> None:
    assert place([1, 2], [], 5) == ([[], []], [])
