"""plan_shards: fewest connections, none over the cap, balanced, stable."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.pipeline.sharding import plan_shards

names = st.lists(st.text(min_size=1, max_size=12), max_size=400)


@given(names, st.integers(min_value=1, max_value=64))
def test_plan_properties(streams: list[str], cap: int) -> None:
    plan = plan_shards(streams, cap)
    unique = set(streams)
    flat = [s for shard in plan for s in shard]
    assert sorted(flat) == sorted(unique)  # every stream exactly once
    assert len(plan) == -(-len(unique) // cap)  # fewest connections
    assert all(0 < len(shard) <= cap for shard in plan)
    if plan:
        sizes = [len(shard) for shard in plan]
        assert max(sizes) - min(sizes) <= 1  # balanced


@given(names, st.integers(min_value=1, max_value=64), st.randoms())
def test_plan_is_stable_under_input_order(streams: list[str], cap: int, rnd: random.Random) -> None:
    shuffled = list(streams)
    rnd.shuffle(shuffled)
    assert plan_shards(shuffled, cap) == plan_shards(streams, cap)


def test_plan_example() -> None:
    streams = [f"s{n}@aggTrade" for n in range(5)]
    assert plan_shards(streams, 2) == [
        ["s0@aggTrade", "s1@aggTrade"],
        ["s2@aggTrade", "s3@aggTrade"],
        ["s4@aggTrade"],
    ]
    # 1025 spot streams: two connections of 513 and 512, not 1024 + 1
    assert [len(s) for s in plan_shards([f"x{n}" for n in range(1025)], 1024)] == [513, 512]
    assert plan_shards([], 10) == []
    with pytest.raises(ValueError):
        plan_shards(["a"], 0)
