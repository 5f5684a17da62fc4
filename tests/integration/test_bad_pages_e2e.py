"""Point 4 end to end: a fault proxy in front of the simulator's REST answers the first
cold-start locates (``startTime``) and some gap fills with bad pages (an HTML 200,
truncated JSON, a 4xx without the exchange's error body). The history windows stay open
and are retried: Redis ends exactly equal to the truth, history included."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio

from orders_cli.sim import Faults, FaultSpec, SimConfig
from tests.integration.fault_proxy import BAD_PAGES, FaultProxy, Page
from tests.integration.harness import run_until_complete

pytestmark = pytest.mark.integration


async def test_bad_pages_never_lose_a_history_window(redis_server: Any) -> None:
    base = SimConfig.from_fixture(n_symbols=8, seed=4, total_rate=40.0)
    cfg = attrs.evolve(base, history_s=300.0, faults=Faults(drop=FaultSpec(rate=0.05)))
    seen = {"locate": 0, "fill": 0}
    proxies: list[FaultProxy] = []

    def rule(n: int, target: str) -> Page | None:
        if "aggTrades" not in target:
            return None
        kind = "locate" if "startTime" in target else "fill" if "fromId" in target else ""
        if not kind:
            return None
        seen[kind] += 1
        if kind == "locate" and seen[kind] <= 6:  # the first six cold starts' locates
            return BAD_PAGES[seen[kind] % len(BAD_PAGES)]
        if kind == "fill" and seen[kind] % 5 == 0:  # every fifth page afterwards
            return BAD_PAGES[seen[kind] % len(BAD_PAGES)]
        return None

    async def via(nursery: trio.Nursery, upstream: str) -> str:
        proxy = FaultProxy(upstream, rule)
        proxies.append(proxy)
        url: str = await nursery.start(proxy.serve)
        return url

    run, diff = await run_until_complete(
        cfg, redis_server.url, live_s=4.0, settle_timeout=60.0, rest_via=via, regap_s=5.0
    )
    assert diff.clean, diff.summary()
    bad = proxies[0].served_bad
    assert sum(1 for t, _ in bad if "startTime" in t) == 6
    c = run.telemetry.counters
    assert c["backfill_bad_replies"] > 0 and c["rest_bad_replies"] > 0  # 200s and 4xx
    assert c["backfill_dropped"] == 0
