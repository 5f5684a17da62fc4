"""`orders verify` while an ingester runs: trades younger than ``--grace`` that Redis
lacks are in flight (counted apart, not a problem); older ones are missing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orders_cli.ops.verify_ids import IdRange, to_ranges
from tests.ops.verify_helpers import (
    KS,
    SYM,
    cli,
    delete_trade,
    running_sim,
    sim_config,
    store,
    truth_trades,
    verify,
)

pytestmark = pytest.mark.integration


def at(ms: int) -> Callable[[], int]:
    """A clock stopped at ``ms``."""
    return lambda: ms


async def test_head_ahead_by_fresh_trades_is_in_flight(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades[:-5])
        newest_t = trades[-1].trade_time
        head = IdRange(trades[-5].agg_id, trades[-1].agg_id)

        # REST's head is ahead by trades with T = now: in flight, clean, not repaired
        report = await verify(r, sim, SYM, clock_ms=at(newest_t), repair=True)
        rep = report.symbols[0]
        assert report.clean, rep.as_dict()
        assert rep.rest_head == head.last and rep.last_id == head.first - 1
        assert (rep.missing, rep.in_flight, rep.repaired) == ([], 5, 0)
        assert rep.as_dict()["in_flight"] == 5 and report.summary()["in_flight"] == 5
        assert r.zcard(KS.trades_latest(SYM)) == len(trades) - 5

        # the same trades with T = now - 1 min: missing
        report = await verify(r, sim, SYM, clock_ms=at(newest_t + 60_000))
        rep = report.symbols[0]
        assert not report.clean
        assert (rep.missing, rep.in_flight) == ([head], 0)


async def test_head_range_split_at_the_grace(redis_server: Any) -> None:
    """Above our newest id, each id is judged by its own trade time."""
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades[:-20])
        now = trades[-1].trade_time
        grace = now - trades[-10].trade_time
        young = [t.agg_id for t in trades[-20:] if t.trade_time > now - grace]
        old = [t.agg_id for t in trades[-20:] if t.trade_time <= now - grace]
        assert young and old
        report = await verify(r, sim, SYM, clock_ms=at(now), grace_ms=grace)
        rep = report.symbols[0]
        assert rep.missing == to_ranges(old) and rep.in_flight == len(young)
        assert not report.clean


async def test_fresh_hole_below_newest_is_in_flight(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades)
        fresh, old = trades[-3].agg_id, trades[50].agg_id
        now = trades[-1].trade_time
        delete_trade(r, SYM, fresh)
        report = await verify(r, sim, SYM, clock_ms=at(now))
        rep = report.symbols[0]
        assert report.clean, rep.as_dict()
        assert (rep.missing, rep.in_flight) == ([], 1)

        report = await verify(r, sim, SYM, clock_ms=at(now + 60_000))
        assert report.symbols[0].missing == [IdRange(fresh, fresh)] and not report.clean

        delete_trade(r, SYM, old)  # an old hole stays a problem next to a fresh one
        report = await verify(r, sim, SYM, clock_ms=at(now))
        rep = report.symbols[0]
        assert (rep.missing, rep.in_flight) == ([IdRange(old, old)], 1)
        assert not report.clean


async def test_cli_grace(redis_server: Any) -> None:
    """Real clock: the simulator's newest trades are seconds old."""
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades[:-5])
        base = ["--redis-url", redis_server.url, "--rest-url", sim.rest_url, "--json", SYM]
        code, rows, err = await cli(*base, "--grace", "1m")
        assert code == 0, (rows, err)
        assert rows[0]["in_flight"] == 5 and rows[0]["missing"] == [] and rows[0]["ok"]
        assert rows[-1]["in_flight"] == 5 and rows[-1]["ok"]
        code, rows, err = await cli(*base, "--grace", "0")
        assert code == 1, (rows, err)
        assert rows[0]["missing"] == [[trades[-5].agg_id, trades[-1].agg_id]]
        assert rows[0]["in_flight"] == 0
