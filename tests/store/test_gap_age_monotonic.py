"""Gap ages are measured on a monotonic clock: a wall clock that steps (NTP, a VM resumed,
an operator) neither makes a fresh gap look stale nor an old one look fresh (a real
private redis-server; both clocks injected)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orders_cli.health import snapshot
from orders_cli.messages import GapRequest
from orders_cli.models import Trade
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.telemetry import Telemetry

T0 = 1_700_000_000_000
DAY_MS = 86_400_000
KS = Keyspace(namespace="age:")


class Clocks:
    def __init__(self) -> None:
        self.wall_ms = T0
        self.mono = 1000.0

    def step(self, *, wall_ms: int, mono_s: float) -> None:
        self.wall_ms += wall_ms
        self.mono += mono_s


def trade(a: int) -> Trade:
    t = T0 + a * 10
    return Trade("BTCUSDT", a, "1.0", "2.0", a, a, t, False, t)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def proc(redis_shared: Any, clocks: Clocks) -> Processor:
    p = Processor(
        redis_shared.client(),
        KS,
        PlanConfig(cold_start=False, first_sight_hold=False, reorder_s=0.25),
        clock_ms=lambda: clocks.wall_ms,
        monotonic=lambda: clocks.mono,
    )
    p.process([trade(1), trade(2), trade(5)])
    clocks.step(wall_ms=300, mono_s=0.3)
    p.process([])  # held past the reorder window: the gap [3, 4] opens
    assert p.open_gaps()[0] == 2
    return p


def test_a_wall_clock_a_day_ahead_does_not_make_a_fresh_gap_stale(
    proc: Processor, clocks: Clocks
) -> None:
    clocks.step(wall_ms=DAY_MS, mono_s=1.0)
    assert proc.stale_gap_requests(30_000) == []
    _total, oldest = proc.open_gaps()
    assert oldest is not None and proc.gap_age_ms(oldest) == 1_000


def test_a_wall_clock_stepped_back_does_not_keep_an_old_gap_fresh(
    proc: Processor, clocks: Clocks
) -> None:
    clocks.step(wall_ms=-DAY_MS, mono_s=60.0)
    assert proc.stale_gap_requests(30_000) == [
        GapRequest("BTCUSDT", 3, 4, priority=2, reason="retry")
    ]
    _total, oldest = proc.open_gaps()
    assert oldest is not None and proc.gap_age_ms(oldest) == 60_000


def test_the_health_snapshot_ages_the_oldest_gap_on_the_monotonic_clock() -> None:
    tel = Telemetry()
    tel.open_gaps = 2
    tel.oldest_open_gap_ms = int(time.time() * 1000) + DAY_MS  # a wall clock gone wrong
    tel.oldest_open_gap_mono = time.monotonic() - 90.0
    age = snapshot(tel, "host-1")["gaps"]["oldest_open_age_s"]
    assert 90.0 <= age < 100.0
