"""The ingester's collector settings apply inside the block and are undone after it."""

from __future__ import annotations

import gc

from orders_cli.gctune import YOUNG, tuned_gc


def test_settings_apply_and_are_restored() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with tuned_gc():
        assert gc.get_threshold()[0] == YOUNG
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > frozen_before  # what was alive at start is frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_are_still_collected_automatically() -> None:
    """Rarer, not off: cycles made in a long run are still found without a manual call."""

    class Node:
        other: object = None

    with tuned_gc():
        young = gc.get_stats()[0]["collections"]
        collected = gc.get_stats()[0]["collected"]
        for _ in range(3 * YOUNG // 2):  # 2 tracked objects (+ their dicts) per cycle
            a, b = Node(), Node()
            a.other, b.other = b, a
        del a, b
        assert gc.get_stats()[0]["collections"] > young
        assert gc.get_stats()[0]["collected"] > collected
