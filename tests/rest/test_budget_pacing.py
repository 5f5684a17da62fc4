"""Within a minute the budget paces calls: a burst, then the cap spread over SPREAD_S."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.rest.budget import BURST_SHARE, MINUTE, SPREAD_S, WeightBudget


def drive(b: WeightBudget, calls: int, weight: int) -> list[float]:
    """Times at which ``calls`` calls, all wanted at 0, go (calls take no time)."""
    now, times = 0.0, []
    while len(times) < calls:
        wait = b.delay(now, weight)
        if wait > 0:
            now += wait
            continue
        b.reserve(now, weight)
        times.append(now)
    return times


def test_a_cold_burst_is_spread_over_the_minute() -> None:
    b = WeightBudget(limit=6000, target_fraction=0.8)  # cap 4800: burst 480, 160/s after
    times = drive(b, 1200, 4)
    burst = int(b.cap * BURST_SHARE) // 4
    assert times[burst - 1] == 0.0 and times[burst] > 0.0
    # after the burst, one call of weight 4 every 4 / (4800 / 30) s
    gaps = [t1 - t0 for t0, t1 in zip(times[burst:], times[burst + 1 :], strict=False)]
    in_minute = [g for g, t in zip(gaps, times[burst + 1 :], strict=True) if t < MINUTE]
    assert all(g == pytest.approx(4 / (b.cap / SPREAD_S)) for g in in_minute)
    # the minute's weight is still the cap, no more
    assert sum(4 for t in times if t < MINUTE) == b.cap
    # never more than the burst plus the refill in any second
    for start in range(int(times[-1])):
        weight = sum(4 for t in times if start <= t < start + 1)
        assert weight <= b.burst + b.cap / SPREAD_S + 4


@given(weight=st.integers(1, 6000), limit=st.integers(10, 6000))
def test_any_call_eventually_goes(weight: int, limit: int) -> None:
    """Calls heavier than the burst (or than the cap) still go, alone, in finite time."""
    b = WeightBudget(limit=limit, target_fraction=0.8)
    times = drive(b, 5, weight)
    assert times[-1] <= 6 * MINUTE
