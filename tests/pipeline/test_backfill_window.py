"""The REST history window of futures (48 h USD-M, 24 h COIN-M; ``rest_history_ms``):
ids older than it are exchange-side, found with one call, never retried without end; a
cold start at the window's edge starts inside it."""

from __future__ import annotations

import trio
import trio.testing

from orders_cli.messages import ColdStart, ColdStartDone, GapRequest
from orders_cli.sources.base import RestRequest
from orders_cli.sources.binance.coinm import COINM
from orders_cli.sources.binance.usdm import USDM
from tests.pipeline.bffake import FakeExchange, ids_of, make_trades, params
from tests.pipeline.test_backfill import holes_of, run_backfill

HOUR = 3_600_000
MINUTE = 60_000


class WindowedExchange(FakeExchange):
    """REST that keeps only its trades from ``oldest_ms`` on and answers ``[]`` to a
    ``fromId`` older than the oldest it keeps (the other answer, the oldest kept trades
    on, is FakeExchange's own)."""

    def __init__(self, symbol: str, trades: list, oldest_ms: int) -> None:  # type: ignore[type-arg]  # Trade list
        super().__init__({symbol: [t for t in trades if t.trade_time >= oldest_ms]})
        self.symbol = symbol

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        kept = self.trades[self.symbol]
        from_id = req.params.get("fromId")
        if from_id is not None and kept and int(from_id) < kept[0].agg_id:
            self.requests.append(req)
            await trio.sleep(0.05)
            return b"[]"
        return await super().get(req, speculative=speculative)


async def test_a_gap_older_than_the_rest_window_becomes_exchange_side_without_endless_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    trades = make_trades("BTCUSDT", range(1, 3001), step_ms=MINUTE)  # 50 h of one a minute
    now = trades[-1].trade_time + 1
    ex = WindowedExchange("BTCUSDT", trades, now - 48 * HOUR)
    kept = ex.trades["BTCUSDT"][0].agg_id
    got, tel, _ = await run_backfill(
        ex, [GapRequest("BTCUSDT", 10, kept + 5)], source=USDM, clock_ms=now
    )
    assert holes_of(got) == [("BTCUSDT", 10, kept - 1)]
    assert ids_of(got, "BTCUSDT") == list(range(kept, kept + 6))
    assert tel.counters["exchange_holes_outside_rest_window"] == 1
    assert tel.counters["backfill_gave_up"] == 0
    assert len(ex.requests) <= 4  # the empty page, one look at the window's edge, the fill


async def test_a_gap_wholly_older_than_the_window_is_one_exchange_side_hole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    trades = make_trades("BTCUSDT", range(1, 3001), step_ms=MINUTE)
    now = trades[-1].trade_time + 1
    ex = WindowedExchange("BTCUSDT", trades, now - 48 * HOUR)
    got, _, _ = await run_backfill(ex, [GapRequest("BTCUSDT", 10, 20)], source=USDM, clock_ms=now)
    assert holes_of(got) == [("BTCUSDT", 10, 20)]


async def test_a_coinm_cold_start_at_the_24h_edge_starts_inside_the_rest_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``--backfill 24h`` on COIN-M asks for exactly what REST may already have started to
    drop: the locate starts a margin inside the window and finds its first trade there."""
    trades = make_trades("BTCUSD_PERP", range(1, 1501), step_ms=MINUTE)  # 25 h
    now = trades[-1].trade_time + 1
    ex = WindowedExchange("BTCUSD_PERP", trades, now - 24 * HOUR + 3 * MINUTE)
    got, tel, _ = await run_backfill(
        ex, [ColdStart("BTCUSD_PERP", now - 24 * HOUR, until_id=1400)], source=COINM, clock_ms=now
    )
    first = next(p for p in params(ex) if "startTime" in p)
    assert int(first["startTime"]) > now - 24 * HOUR + 3 * MINUTE
    done = [m for m in got if isinstance(m, ColdStartDone)]
    assert len(done) == 1 and done[0].first_id is not None
    assert ids_of(got, "BTCUSD_PERP") == list(range(done[0].first_id, 1400))
    assert holes_of(got) == [] and tel.counters["cold_starts_inside_rest_window"] == 1
