"""Backoff, the shared connect budget and the message pacer (trio MockClock)."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.pipeline.connect_budget import ConnectBudget
from orders_cli.pipeline.pacing import MessagePacer
from orders_cli.retry import Backoff


@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=2**32))
def test_backoff_bounds(failures: int, seed: int) -> None:
    backoff = Backoff(0.5, 30.0, rng=random.Random(seed))
    for _ in range(failures):
        backoff.next()
    ceiling = min(30.0, 0.5 * 2 ** min(failures, 64))
    assert backoff.ceiling() == ceiling
    assert 0.0 <= backoff.next() <= ceiling


def test_backoff_full_jitter_and_reset() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(3))
    delays = []
    for _ in range(200):
        backoff.reset()
        for _ in range(10):  # far past the cap
            backoff.next()
        delays.append(backoff.next())
    # full jitter: spread over [0, cap], not clustered at the cap
    assert min(delays) < 1.0 and max(delays) > 7.0 and all(0 <= d <= 8.0 for d in delays)
    backoff.reset()
    assert backoff.attempts == 0 and backoff.ceiling() == 1.0
    assert (
        Backoff(1.0, 8.0, rng=random.Random(5)).next()
        == Backoff(1.0, 8.0, rng=random.Random(5)).next()
    )
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)


async def test_connect_budget_waits_for_the_window(autojump_clock: trio.testing.MockClock) -> None:
    budget = ConnectBudget(3, window=300.0)
    times: list[float] = []

    async def attempt() -> None:
        await budget.acquire()
        times.append(trio.current_time())

    start = trio.current_time()
    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:  # two shards share one budget
            for _ in range(4):
                nursery.start_soon(attempt)
            for _ in range(3):
                nursery.start_soon(attempt)
    rel = sorted(t - start for t in times)
    assert rel[:3] == [0.0, 0.0, 0.0]
    assert rel[3:6] == [300.0, 300.0, 300.0]
    assert rel[6] == 600.0
    # never more than 3 attempts in any rolling 300 s
    for i, t in enumerate(rel):
        assert sum(1 for u in rel if t <= u < t + 300.0) <= 3, (i, rel)
    assert budget.available() == 2


async def test_connect_budget_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    budget = ConnectBudget(1, window=300.0)
    await budget.acquire()
    with trio.move_on_after(10) as scope:
        await budget.acquire()
    assert scope.cancelled_caught


async def test_pacer_stays_under_the_limit(autojump_clock: trio.testing.MockClock) -> None:
    pacer = MessagePacer.under_limit(5.0)
    assert pacer.rate == 4.0
    sent: list[float] = []

    async def sender(n: int) -> None:
        for _ in range(n):
            await pacer.wait()
            sent.append(trio.current_time())

    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:  # concurrent callers share the pace
            nursery.start_soon(sender, 10)
            nursery.start_soon(sender, 10)
    sent.sort()
    assert len(sent) == 20
    for t in sent:
        assert sum(1 for u in sent if t <= u < t + 1.0) <= 4
    assert sent[-1] - sent[0] == pytest.approx(19 * 0.25)
    assert MessagePacer.under_limit(10.0).rate == 8.0
    assert MessagePacer.under_limit(0.5).rate == 0.5
