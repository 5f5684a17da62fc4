"""simulator (200+ symbols, 2+ shards, non-ASCII and BREAK symbols) → orders run → a real
redis-server: Redis afterwards equals the simulator's ground truth exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orders_cli.sim import SimConfig
from orders_cli.stats.bars import bars_from_trades_reference
from tests.integration.harness import KS, info_mismatches, run_until_complete, truth_trade

pytestmark = pytest.mark.integration


async def test_redis_equals_ground_truth(redis_server: Any) -> None:
    cfg = SimConfig.from_fixture(n_symbols=220, seed=7, total_rate=400.0)
    run, diff = await run_until_complete(
        cfg, redis_server.url, live_s=6.0, max_streams_per_connection=100
    )
    assert diff.clean, diff.summary()
    truth = run.sim.truth_by_symbol()
    r = run.redis
    assert len(run.ingester.shards) >= 2
    assert sum(len(v) for v in truth.values()) > 1000
    assert any(not s.isascii() for s in truth), "the scenario has a non-ASCII symbol"
    # every listed symbol has its info hash, BREAK ones included
    statuses = {i.symbol: i.status for i in run.ingester.infos.values()}
    assert "BREAK" in statuses.values()
    assert not info_mismatches(r, run.ingester.infos, "spot")
    # current stats: the 100 ms window of each symbol's newest trade, from the truth
    for symbol, rows in truth.items():
        if not rows:
            continue
        trades = [truth_trade(row) for row in rows]
        bars = bars_from_trades_reference(trades)["100ms"]
        newest = max(trades, key=lambda t: t.agg_id)
        ws = newest.trade_time - newest.trade_time % 100
        cur = {k.decode(): v.decode() for k, v in r.hgetall(KS.stats_current(symbol)).items()}
        bar = bars[ws]
        assert int(cur["window_start"]) == ws, symbol
        assert int(cur["trades_count"]) == bar.trades_count, symbol
        assert Decimal(cur["volume"]) == bar.volume, symbol
        assert Decimal(cur["high_price"]) == bar.high and Decimal(cur["low_price"]) == bar.low
        assert int(cur["last_trade_id"]) == bar.last_trade_id
        assert int(r.hget(KS.symbol_info(symbol), "last_trade_time")) == max(
            t.trade_time for t in trades
        )
