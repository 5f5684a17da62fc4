"""`orders verify --bars/--klines` after a real ingest (the Ingester against the
simulator, as tests/integration/harness.py runs it), on a private redis-server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester
from orders_cli.ops import verify_bars as vb
from orders_cli.stats.codec import decode_bar, encode_bar
from orders_cli.telemetry import Telemetry
from tests.integration.harness import compare, open_gaps
from tests.ops.verify_helpers import KS, OTHER, SPOT, SYM, running_sim, sim_config, verify

pytestmark = pytest.mark.integration


async def _ingest(sim: Any, r: Any, url: str) -> None:
    """Run the real ingester until Redis equals the simulator's truth, then stop it."""
    cfg = RunConfig(
        redis_url=url,
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        listing_poll_s=0,
        prune_every_s=0,
        health_interval_s=1,
    )
    ing = Ingester(cfg, SPOT, r, Telemetry())
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ing.run)
            await trio.sleep(1.5)  # some live trades too
            sim.stop_trading()
            while True:
                await trio.sleep(0.2)
                truth = sim.truth_by_symbol()
                diff = await trio.to_thread.run_sync(compare, r, truth, False)
                gaps = await trio.to_thread.run_sync(open_gaps, r, list(truth))
                if diff.clean and not gaps:
                    break
            ing.stop()


def _tamper_1m(r: Any, symbol: str, ws: int) -> None:
    key = KS.bars(symbol, "1m")
    (member,) = r.zrangebyscore(key, ws, ws)
    bar = decode_bar(member)
    r.zrem(key, member)
    r.zadd(key, {encode_bar(bar._replace(volume=bar.volume + Decimal("0.001"))): ws})


async def test_bars_and_klines_clean_after_ingest_then_tampered(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config(history_s=150.0), frozen=False) as sim:
        await _ingest(sim, r, redis_server.url)

        report = await verify(r, sim, bars=True, klines=True)
        assert report.clean, [s.as_dict() for s in report.symbols]
        # and it says so: how many windows each check compared
        sym_rep = next(s for s in report.symbols if s.symbol == SYM).as_dict()
        assert sym_rep["bars_compared"] > 0 and sym_rep["klines_compared"] > 0
        plain = await verify(r, sim, SYM)
        assert plain.symbols[0].as_dict()["bars_compared"] is None
        # the checks had something to compare: complete 1m windows with trades
        snap = vb.read_snapshot(r, KS, SYM, 0)
        span = vb.kline_range(snap, 0)
        assert span is not None
        first, last = span
        inside = [ws for ws in snap.bars["1m"] if first <= ws <= last]
        assert inside, (span, sorted(snap.bars["1m"]))
        assert vb.check_bars(snap, 0) == []

        _tamper_1m(r, SYM, inside[0])
        report = await verify(r, sim, SYM, OTHER, bars=True, klines=True)
        rep = {s.symbol: s for s in report.symbols}
        assert rep[OTHER].problems == 0
        problems = {(p.source, p.tf, p.window_start) for p in rep[SYM].bar_problems}
        assert problems == {("trades", "1m", inside[0]), ("klines", "1m", inside[0])}
        assert any("volume" in p.what for p in rep[SYM].bar_problems)
        assert not report.clean


def test_windows_still_rolling_up_are_not_reported() -> None:
    from orders_cli.models import Trade
    from orders_cli.stats.bars import bars_from_trades_reference

    t0 = 1_700_000_040_000  # a minute boundary
    trades = [
        Trade(SYM, a, "10.5", "2", a, a, t0 + a * 1_000, a % 2 == 0, t0 + a * 1_000)
        for a in range(30)
    ]
    stored = bars_from_trades_reference(trades[:20])  # the writer rolled up 20 of 30
    stored["100ms"] = bars_from_trades_reference(trades)["100ms"]  # base: written at once
    taken = t0 + 86_400_000 * 2  # every window is closed
    stale = vb.BarSnapshot(trades, stored, taken)
    assert {(p.tf, p.window_start) for p in vb.check_bars(stale, 0)} >= {("1m", t0)}
    rolling = vb.BarSnapshot(trades, stored, taken, rolling=(t0,))
    assert vb.check_bars(rolling, 0) == []
