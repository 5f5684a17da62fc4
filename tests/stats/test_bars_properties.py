"""Incremental bars (any arrival order, any batching) equal the naive reference."""

from __future__ import annotations

import itertools
import random

import attrs
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.models import Trade
from orders_cli.stats.bars import (
    Bar,
    bars_for_batch,
    bars_from_trades_reference,
    merge_bars,
)
from orders_cli.stats.codec import decode_bar, encode_bar
from orders_cli.timeframes import TIMEFRAMES
from tests.stats.stats_strategies import trade_lists


def _split(trades: list[Trade], rnd: random.Random) -> list[list[Trade]]:
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    cuts = sorted(rnd.sample(range(1, len(shuffled)), k=min(len(shuffled) - 1, rnd.randint(0, 6))))
    bounds = [0, *cuts, len(shuffled)]
    return [shuffled[a:b] for a, b in itertools.pairwise(bounds)]


def _assert_exact_equal(got: dict[int, Bar], want: dict[int, Bar]) -> None:
    assert got.keys() == want.keys()
    for ws, bar in want.items():
        assert got[ws] == bar, ws  # attrs eq compares every Decimal numerically, exactly


@given(trade_lists(), st.randoms(use_true_random=False), st.booleans())
def test_incremental_equals_reference(
    trades: list[Trade], rnd: random.Random, new_on_left: bool
) -> None:
    stored: dict[str, dict[int, Bar]] = {tf: {} for tf in TIMEFRAMES}
    for batch in _split(trades, rnd):
        new = bars_for_batch(batch)
        assert set(new) == set(TIMEFRAMES)
        for tf in TIMEFRAMES:
            if new_on_left:  # the merge must not care which side is the stored bar
                for ws, bar in new[tf].items():
                    old = stored[tf].get(ws)
                    stored[tf][ws] = bar if old is None else bar.merge(old)
            else:
                merge_bars(stored[tf], new[tf])
            # the stored form round-trips exactly after every batch
            stored[tf] = {ws: decode_bar(encode_bar(b)) for ws, b in stored[tf].items()}
    want = bars_from_trades_reference(sorted(trades, key=lambda t: t.agg_id))
    for tf in TIMEFRAMES:
        _assert_exact_equal(stored[tf], want[tf])


@given(trade_lists(min_size=2), st.randoms(use_true_random=False))
def test_one_batch_any_order_equals_reference(trades: list[Trade], rnd: random.Random) -> None:
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    assert bars_for_batch(shuffled) == bars_from_trades_reference(trades)


@given(trade_lists(min_size=3, max_size=20), st.randoms(use_true_random=False))
def test_merge_is_associative_and_commutative(trades: list[Trade], rnd: random.Random) -> None:
    # three disjoint subsets forced into one daily window
    base = trades[0].trade_time - trades[0].trade_time % 86_400_000
    same = [attrs.evolve(t, trade_time=base + t.trade_time % 86_400_000) for t in trades]
    parts = _split(same, rnd)
    while len(parts) < 3:
        parts.append([])
    a, b, c = (bars_for_batch(p)["1d"].get(base) for p in parts[:3])
    present = [x for x in (a, b, c) if x is not None]
    if len(present) < 3:
        return
    assert a is not None and b is not None and c is not None
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
