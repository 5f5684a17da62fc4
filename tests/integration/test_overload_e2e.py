"""Overload drops one id range per episode: the simulator, a private redis-server and the
real ingester with a small writer channel whose writer is slowed to a quarter of the
offered rate for a while, then runs at full speed again. Each symbol's gaps are exactly
its overload episodes (one range each, not one per dropped batch), and at the end Redis
equals the simulator's truth: every id once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import pytest
import trio

from orders_cli.sim import SimConfig
from tests.integration.harness import Run, run_until_complete
from tests.integration.replay_server import wait_for

pytestmark = pytest.mark.integration

T = TypeVar("T")
AGG = "rest:/api/v3/aggTrades"
HOLD_S = 1.0
OVERLOAD_S = 6.0
CHANNEL = 200
BATCH = 25
SLOW_S = 0.25  # per batch of at most 25 inputs: ~100 inputs/s for ~400 trades/s offered


@attrs.define
class Throttle:
    """Stands in for the writer's Redis worker: waits ``delay`` before each batch."""

    inner: Any
    delay: float = 0.0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.delay:
            await trio.sleep(self.delay)
        result: T = await self.inner.run(fn, *args)
        return result

    def waiting(self, *args: Any) -> None:
        self.inner.waiting(*args)

    def accepted(self) -> None:
        self.inner.accepted()


async def test_overload_drops_one_range_per_episode_and_the_store_ends_equal_to_the_truth(
    redis_server: Any,
) -> None:
    cfg = SimConfig.from_fixture(n_symbols=20, seed=18, total_rate=400.0, extras=False)
    trading = [s.symbol for s in cfg.symbols if s.rate > 0]
    most_gaps: list[int] = []

    async def during(run: Run) -> None:
        # Trading starts once the start-up head checks are answered: a head check that
        # sees ids the live stream has not delivered yet would open a gap of its own.
        run.sim.stop_trading()
        ing = run.ingester
        await wait_for(
            lambda: (
                run.sim.stats[AGG] >= len(trading)
                and ing.backfill is not None
                and ing.backfill.pending() + ing.backfill.in_flight == 0
            )
        )
        writer = ing.writer
        assert writer is not None  # the ingester is live
        throttle = Throttle(writer.worker)
        writer.worker = throttle  # type: ignore[assignment]  # duck-typed stand-in
        run.sim.engine.frozen = False  # (the Simulator has no public resume)
        await trio.sleep(1.0)
        throttle.delay = SLOW_S
        with trio.move_on_after(OVERLOAD_S):
            while True:  # the per-symbol gauge, as an operator would sample it
                most_gaps.append(run.telemetry.most_gaps_per_symbol)
                await trio.sleep(0.2)
        throttle.delay = 0.0
        # an episode's gap is recorded when it ends (the channel drained below half, the
        # hold passed), which may be only now that the writer runs at full speed: keep
        # sampling through the recovery, until the gaps it opened are filled again
        with trio.move_on_after(10.0):
            while not (max(most_gaps) > 0 and most_gaps[-1] == 0):
                most_gaps.append(run.telemetry.most_gaps_per_symbol)
                await trio.sleep(0.02)

    run, diff = await run_until_complete(
        cfg,
        redis_server.url,
        live_s=OVERLOAD_S + 15.0,
        settle_timeout=90.0,
        during=during,
        channel_size=CHANNEL,
        batch_max=BATCH,
        overload_hold_s=HOLD_S,
        sweep=False,  # a head check while live trades wait in the channel opens a gap
        silence_cap_s=0,
    )
    assert diff.clean, diff.summary()
    c = run.telemetry.counters
    episodes = {s: c[f"overload_episodes:{s}"] for s in trading if c[f"overload_episodes:{s}"]}
    gaps = {s: c[f"gaps_opened:{s}"] for s in trading if c[f"gaps_opened:{s}"]}
    assert sum(episodes.values()) >= 5, c
    assert gaps == episodes  # one range per episode, never one per dropped trade or batch
    assert c["gaps_opened"] == c["overload_episodes"]
    assert c["dropped_overload"] >= 10 * c["overload_episodes"], c  # ranges, not singles
    # a symbol's episodes begin at least a hold apart
    assert max(episodes.values()) <= OVERLOAD_S / HOLD_S + 2, episodes
    assert 0 < max(most_gaps) <= OVERLOAD_S / HOLD_S + 2, most_gaps
