"""``Processor.stale_gap_requests``: what the writer asks the backfill again for gaps
still open (a real private redis-server)."""

from __future__ import annotations

from typing import Any

import pytest

from orders_cli.messages import COLD_PRIORITY, Backfilled, ColdStart, ColdStartDone, GapRequest
from orders_cli.models import Trade
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor

T0 = 1_700_000_000_000
DAY = 86_400_000


def trade(a: int) -> Trade:
    t = T0 + a * 10
    return Trade("A", a, "1.0", "2.0", a, a, t, False, t)


@pytest.fixture
def proc(redis_shared: Any) -> Processor:
    return Processor(
        redis_shared.client(),
        Keyspace(),
        PlanConfig(first_agg_id=0, cold_start=True, reorder_s=0.0),
        clock_ms=lambda: T0 + 10_000_000,
    )


def test_only_the_unlocated_part_of_a_cold_gap_is_asked_as_a_cold_start(proc: Processor) -> None:
    proc.process([trade(100)])  # cold gap [0, 99]
    assert proc.stale_gap_requests(0) == [ColdStart("A", T0 + 10_000_000 - DAY, 100)]
    proc.process([Backfilled("A", tuple(trade(a) for a in range(50, 61)))])
    # [0, 49]: where the window starts is not known yet; [61, 99]: plain ids, cold priority
    assert proc.stale_gap_requests(0) == [
        ColdStart("A", T0 + 10_000_000 - DAY, 50),
        GapRequest("A", 61, 99, priority=COLD_PRIORITY, reason="retry"),
    ]
    # the backfill reported where the window starts, then gave up: the rest is asked again
    proc.process([ColdStartDone("A", 50)])
    assert proc.stale_gap_requests(0) == [
        GapRequest("A", 61, 99, priority=COLD_PRIORITY, reason="retry")
    ]
    assert proc.stale_gap_requests(10**9) == []  # not stale yet
