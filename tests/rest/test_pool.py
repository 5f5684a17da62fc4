"""Markets of one Binance weight pool share one budget and one ban: two REST clients of
one pool together stay under the pool's cap (rest/pool.py)."""

from __future__ import annotations

import httpx
import pytest
import trio

from orders_cli.errors import IpBanned
from orders_cli.rest.pool import RestPool, RestPools
from orders_cli.sources.base import RestRequest
from orders_cli.sources.registry import SOURCES
from tests.rest.test_client import Fake, client, ok

USDM_PAGE = RestRequest(path="/fapi/v1/aggTrades", params={"symbol": "BTCUSDT"}, weight=20)
COINM_PAGE = RestRequest(path="/dapi/v1/aggTrades", params={"symbol": "BTCUSD_PERP"}, weight=20)


def test_usdm_and_coinm_are_one_weight_pool_and_spot_its_own() -> None:
    pools = {name: src.weight_pool for name, src in SOURCES.items()}
    assert pools["usdm"] == pools["coinm"] != pools["spot"]


def test_the_markets_of_one_pool_share_it_and_plan_on_their_share() -> None:
    pools = RestPools()
    usdm = pools.join("futures", 2400, 0.8)
    assert pools.join("futures", 9999, 0.5) is usdm  # the first market set its limit
    spot = pools.join("spot", 6000, 0.8)
    assert spot is not usdm
    assert usdm.budget.cap == 1920
    assert (usdm.share, spot.share) == (1200, 6000)  # two markets on futures, one on spot


async def test_two_clients_of_one_pool_together_wait_for_the_next_minute(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return ok()  # no header: our estimate stands

    fake = Fake(answer)
    pool = RestPool(RestPools().join("futures", 100, 1.0).budget, aligned=True)
    # cap 100 per minute: 5 calls of weight 20 over both clients, then the next minute
    async with client(fake, pool=pool) as usdm, client(fake, pool=pool) as coinm:
        with trio.fail_after(200):
            for i in range(6):
                await (usdm if i % 2 else coinm).get(USDM_PAGE if i % 2 else COINM_PAGE)
    assert max(fake.times[:5]) < 60 <= fake.times[5]


async def test_a_ban_on_one_market_holds_the_other_market_of_its_pool(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(418, headers={"Retry-After": "120"})
        return ok()

    fake = Fake(answer)
    pool = RestPools().join("futures", 2400, 0.8)
    async with client(fake, pool=pool) as usdm, client(fake, pool=pool) as coinm:
        with trio.fail_after(500):
            with pytest.raises(IpBanned):
                await usdm.get(USDM_PAGE)
            await coinm.get(COINM_PAGE)
    assert fake.times[1] >= 120


def test_a_run_of_three_markets_gives_the_futures_one_pool_and_spot_its_own() -> None:
    from typing import Any, cast

    from orders_cli.config import RunConfig
    from orders_cli.ingest.fleet import Fleet
    from orders_cli.telemetry import Telemetry

    markets = [
        (RunConfig(redis_url=""), SOURCES[m], Telemetry()) for m in ("spot", "usdm", "coinm")
    ]
    fleet = Fleet(markets, cast(Any, None))  # nothing runs: no Redis needed
    pools = {name: ing.rest_pool for name, ing in fleet.ingesters.items()}
    assert pools["usdm"] is pools["coinm"] is not pools["spot"]
    assert pools["usdm"] is not None and pools["usdm"].share == 1200  # 2,400/min over two
    workers = [ing.worker.limiter for ing in fleet.ingesters.values()]
    assert workers[0] is workers[1] is workers[2]  # one Redis thread for the run
