"""Point 7 end to end: the simulator drops trades live (never delivered: no frame, no
reconnect), then every symbol goes quiet. With the periodic sweep off, only the head
checks of silent symbols can find a dropped *last* trade: Redis ends equal to the truth
within seconds of the silence."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from orders_cli.sim import Faults, FaultSpec, SimConfig
from tests.integration.harness import run_until_complete

pytestmark = pytest.mark.integration


async def test_a_dropped_trade_before_a_quiet_spell_is_found_by_a_silence_check(
    redis_server: Any,
) -> None:
    base = SimConfig.from_fixture(n_symbols=12, seed=21, total_rate=120.0)
    cfg = attrs.evolve(base, faults=Faults(drop=FaultSpec(rate=0.5)))
    run, diff = await run_until_complete(
        cfg,
        redis_server.url,
        live_s=4.0,
        settle_timeout=40.0,
        sweep=False,
        silence_cap_s=20.0,
    )
    assert diff.clean, diff.summary()
    assert run.telemetry.counters["backfill_head_seen"] > 0
