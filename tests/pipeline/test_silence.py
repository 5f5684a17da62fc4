"""Silent symbols get a head check: a symbol quiet for longer than max(5 s, 10 x its mean
inter-trade gap over the last hour), capped (default 10 min), is checked, and again
while it stays quiet (at most the cap apart); these checks use at most 10 % of the REST
weight limit per minute. Trio's MockClock."""

from __future__ import annotations

import itertools

import trio
import trio.testing

from orders_cli.messages import BackfillInput, HeadCheck
from orders_cli.pipeline.silence import SilenceWatch, silence_checks


def watch(cap_s: float = 600.0, checks_per_minute: int = 1000) -> SilenceWatch:
    return SilenceWatch(cap_s=cap_s, checks_per_minute=checks_per_minute)


def test_a_busy_symbol_is_checked_after_the_floor_of_5_s() -> None:
    w = watch()
    w.track(["A"], 0.0)
    for i in range(1, 101):  # a trade every 0.1 s for 10 s
        w.saw("A", 1, i * 0.1)
    assert w.due(14.9) == []
    assert w.due(15.0) == ["A"]  # 10 s + max(5 s, 10 x 0.1 s)
    assert w.due(15.1) == []  # one check, then the next one later


def test_a_slow_symbol_waits_ten_mean_gaps() -> None:
    w = watch()
    w.track(["B"], 0.0)
    for i in range(1, 31):  # a trade every 20 s for 10 minutes
        w.saw("B", 1, i * 20.0)
    assert w.due(600.0 + 199.0) == []
    assert w.due(600.0 + 200.0) == ["B"]


def test_the_wait_is_capped_and_a_symbol_never_seen_trading_waits_the_cap() -> None:
    w = watch(cap_s=120.0)
    w.track(["IDLE"], 0.0)
    assert w.due(119.0) == []
    assert w.due(120.0) == ["IDLE"]
    w.track(["IDLE", "RARE"], 2900.0)
    w.saw("RARE", 1, 3000.0)  # one trade in 100 s: 10 mean gaps = 1,000 s, over the cap
    assert "RARE" not in w.due(3119.0)
    assert "RARE" in w.due(3120.0)


def test_a_symbol_that_stays_quiet_is_checked_again_at_most_the_cap_apart() -> None:
    w = watch(cap_s=60.0)
    w.track(["A"], 0.0)
    for i in range(1, 101):
        w.saw("A", 1, i * 0.1)
    times = []
    now = 10.0
    while now < 400.0:
        if w.due(now):
            times.append(now)
        now = round(now + 0.5, 1)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 15.0
    assert gaps[0] >= 5.0 and all(g <= 60.0 for g in gaps)
    assert gaps == sorted(gaps)  # backs off while it stays quiet...
    assert gaps[-1] == 60.0  # ...up to the cap


def test_the_mean_gap_counts_only_the_last_hour() -> None:
    w = watch()
    w.track(["A"], 0.0)
    for i in range(1, 3601):  # one a second for an hour
        w.saw("A", 1, float(i))
    w.saw("A", 1, 3600.0 + 3 * 3600.0)  # then nothing for three hours, one trade
    assert w.due(3 * 3600.0 + 3600.0 + 599.0) == []  # the hour before: one trade -> cap
    assert w.due(3 * 3600.0 + 3600.0 + 600.0) == ["A"]


def test_checks_stay_within_their_share_of_the_weight_limit() -> None:
    w = watch(cap_s=60.0, checks_per_minute=10)
    symbols = [f"S{i}" for i in range(100)]
    w.track(symbols, 0.0)
    checked: list[tuple[float, str]] = []
    now = 0.0
    while now < 700.0:
        checked += [(now, s) for s in w.due(now)]
        now += 1.0
    for start in range(0, 700):
        assert sum(1 for t, _ in checked if start <= t < start + 60) <= 10
    assert len({s for _, s in checked}) == 100  # everyone gets their turn, oldest first


def test_a_symbol_no_longer_subscribed_is_forgotten() -> None:
    w = watch(cap_s=10.0)
    w.track(["A", "B"], 0.0)
    w.track(["B"], 1.0)
    assert w.due(20.0) == ["B"]


async def test_the_service_sends_head_checks_marked_silence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    w = watch(cap_s=30.0)
    send, recv = trio.open_memory_channel[BackfillInput](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(silence_checks, w, lambda: ["A", "B"], send)
        with trio.fail_after(60):
            got = await recv.receive()
        nursery.cancel_scope.cancel()
    assert got == HeadCheck(("A", "B"), reason="silence")
    assert 30.0 <= trio.current_time() <= 31.5
