"""30 % of every weight window is kept for gap fills: speculative calls (head checks,
sweeps, cold-start locates) stop at 70 % of the cap and leave part of the pacing bucket,
so a gap that shows up later in the minute is fetched at once."""

from __future__ import annotations

from orders_cli.rest.budget import GAP_SHARE, WeightBudget


def spend(b: WeightBudget, now: float, *, speculative: bool) -> int:
    """Calls of weight 4 that go at ``now`` without waiting (the time does not move)."""
    n = 0
    while b.delay(now, 4, speculative=speculative) == 0:
        b.reserve(now, 4)
        n += 1
    return n


def test_speculative_calls_leave_the_gap_share_of_the_minute() -> None:
    b = WeightBudget(limit=1000, target_fraction=0.8)  # cap 800
    now = 0.0
    while now < 59.0:  # speculative calls as fast as they are allowed for a whole minute
        spend(b, now, speculative=True)
        now += 0.5
    assert b.used <= b.cap * (1 - GAP_SHARE)
    assert b.used >= b.cap * (1 - GAP_SHARE) - 4
    # a gap fill at the end of that minute still goes at once, and so do a few more
    assert spend(b, now, speculative=False) >= 3


def test_speculative_calls_leave_part_of_the_pacing_bucket() -> None:
    b = WeightBudget(limit=6000, target_fraction=0.8)  # cap 4800, burst 480
    assert spend(b, 0.0, speculative=True) * 4 <= b.burst * (1 - GAP_SHARE)
    assert spend(b, 0.0, speculative=False) * 4 >= b.burst * GAP_SHARE - 4


def test_gap_fills_may_use_the_whole_cap() -> None:
    b = WeightBudget(limit=1000, target_fraction=0.8)
    now = 0.0
    while now < 59.0:
        spend(b, now, speculative=False)
        now += 0.5
    assert b.used >= b.cap - 4
