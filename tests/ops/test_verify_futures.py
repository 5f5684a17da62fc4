"""`orders verify` on a futures market: continuity is judged on ``a`` only (``f..l`` ranges
skip the insurance-fund and ADL fills), and ids older than the market's REST history
window (48 h USD-M, 24 h COIN-M) are exchange-side, reported as unrecoverable, exit 0."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import httpx
import pytest
import trio

from orders_cli.cli.render_verify import render
from orders_cli.messages import Backfilled
from orders_cli.models import Trade
from orders_cli.ops.verify import Verifier, VerifyOptions
from orders_cli.ops.verify_ids import IdRange
from orders_cli.rest.client import RestClient
from orders_cli.sources.base import RestRequest
from orders_cli.sources.binance.usdm import USDM_MARKET as USDM
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from tests.pipeline.bffake import FakeExchange

pytestmark = pytest.mark.integration

HOUR = 3_600_000
NOW = 1_800_000_000_000
KS = Keyspace(market_prefix=USDM.key_prefix)
SYM = "BTCUSDT"
STEP_MS = 864_000  # 300 trades over 72 h


def futures_trades(ids: range) -> list[Trade]:
    """Consecutive ``a``; each ``f..l`` skips ids after the one before (excluded fills)."""
    start = NOW - 72 * HOUR
    return [
        Trade(SYM, a, "100.1", "3", 10 * a, 10 * a + 2, start + a * STEP_MS, a % 2 == 0,
              start + a * STEP_MS)
        for a in ids
    ]  # fmt: skip


def store(r: Any, trades: list[Trade]) -> None:
    proc = Processor(
        r,
        KS,
        PlanConfig(first_agg_id=1, cold_start=False),
        retention_ms=96 * HOUR,
        clock_ms=lambda: NOW,
    )
    proc.process([Backfilled(SYM, tuple(trades))], flush=True)


def transport(ex: FakeExchange) -> httpx.MockTransport:
    async def answer(request: httpx.Request) -> httpx.Response:
        body = await ex.get(RestRequest(request.url.path, dict(request.url.params), 20))
        return httpx.Response(200, content=body)

    return httpx.MockTransport(answer)


async def run_verify(r: Any, ex: FakeExchange, since_h: int) -> Any:
    with trio.fail_after(30):
        async with RestClient(
            "http://fapi.test", transport=transport(ex), minute_offset=0.0
        ) as rest:
            opts = VerifyOptions(since_ms=since_h * HOUR, grace_ms=0)
            return await Verifier(r, KS, USDM, rest, opts, clock_ms=lambda: NOW).run([SYM])


async def test_ids_older_than_the_rest_window_are_exchange_side_and_unrecoverable(
    redis_server: Any,
) -> None:
    r = redis_server.client()
    truth = futures_trades(range(1, 301))
    # REST keeps the last 48 h only; our store lost ids 50..52 (about 60 h ago)
    rest_has = [t for t in truth if t.trade_time >= NOW - 48 * HOUR]
    assert rest_has[0].agg_id > 52
    store(r, [t for t in truth if not 50 <= t.agg_id <= 52])
    ex = FakeExchange({SYM: rest_has})

    report = await run_verify(r, ex, since_h=72)
    (rep,) = report.symbols
    assert rep.missing == [] and rep.unverified == [] and rep.errors == []
    assert rep.exchange_side == [IdRange(50, 52)]
    assert rep.outside_rest_window == [IdRange(50, 52)]
    assert report.clean  # exit 0
    row = rep.as_dict()
    assert row["outside_rest_window"] == [[50, 52]] and row["ok"]
    assert report.summary()["outside_rest_window"] == 3
    text = _text(render(report))
    assert "unrecoverable (outside Binance's 48 h REST window)" in text
    # never paged: REST cannot have them
    assert all(int(req.params.get("fromId", "1000")) > 52 for req in ex.requests)


async def test_a_hole_inside_the_rest_window_is_still_missing(redis_server: Any) -> None:
    r = redis_server.client()
    truth = futures_trades(range(1, 301))
    store(r, [t for t in truth if t.agg_id != 250])
    ex = FakeExchange({SYM: [t for t in truth if t.trade_time >= NOW - 48 * HOUR]})
    (rep,) = (await run_verify(r, ex, since_h=72)).symbols
    assert rep.missing == [IdRange(250, 250)] and rep.outside_rest_window == []


async def test_f_l_holes_on_futures_are_not_gaps(redis_server: Any) -> None:
    """Every trade's ``f`` is 8 above the ``l`` before it: nothing is missing."""
    r = redis_server.client()
    truth = futures_trades(range(200, 301))
    assert all(b.first_trade_id > a.last_trade_id + 1 for a, b in pairwise(truth))
    store(r, truth)
    gaps = r.hget(KS.state(SYM), "gaps")
    assert gaps in (None, b"[]")
    report = await run_verify(r, FakeExchange({SYM: truth}), since_h=24)
    (rep,) = report.symbols
    assert report.clean and rep.exchange_side == [] and rep.stored > 0


def _text(renderable: Any) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_live_futures_trades_whose_f_l_ranges_skip_ids_open_no_gap(redis_server: Any) -> None:
    """The ingester's planner judges continuity on ``a`` only, live trades included."""
    r = redis_server.client()
    proc = Processor(r, KS, PlanConfig(first_agg_id=1, cold_start=False, reorder_s=0.0))
    out = proc.process(futures_trades(range(200, 260)), flush=True)
    assert out.counters["trades_stored"] == 60
    assert out.counters["gaps_opened"] == 0 and out.gap_requests == []
    assert proc.open_gaps() == (0, None)
