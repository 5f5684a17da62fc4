"""The one retry policy: capped for any number of failures, used by every retry loop
(the backfill's requeue, the REST client, the writer, the shards). Trio autojump clock."""

from __future__ import annotations

import random

import orjson
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.errors import ExchangeUnavailable
from orders_cli.messages import Backfilled, BackfillInput, GapRequest, WriterInput
from orders_cli.models import Trade
from orders_cli.pipeline.backfill import Backfill
from orders_cli.retry import Backoff, Jitter, RetryPolicy
from orders_cli.sources.base import RestRequest
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import FakeSource, make_trades


@given(
    st.integers(min_value=0, max_value=100_000),
    st.sampled_from(["full", "equal", "none"]),
    st.integers(min_value=0, max_value=2**32),
)
def test_a_delay_is_never_above_the_cap_whatever_the_failure_count(
    attempt: int, jitter: Jitter, seed: int
) -> None:
    policy = RetryPolicy(0.5, 30.0, jitter)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= policy.ceiling(attempt) <= 30.0
    if jitter == "none":
        assert delay == min(30.0, 0.5 * 2 ** min(attempt, 64))
    if jitter == "equal":
        assert delay >= policy.ceiling(attempt) / 2


def test_a_backoff_counts_its_failures_and_starts_over_after_reset() -> None:
    b = Backoff(0.1, 5.0, jitter="none")
    assert [b.next() for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    for _ in range(10_000):
        b.next()
    assert b.next() == 5.0
    b.reset()
    assert b.next() == 0.1


class DownFor:
    """An aggTrades endpoint that fails ``failures`` times, then serves ``trades``."""

    def __init__(self, failures: int, trades: list[Trade]) -> None:
        self.left = failures
        self.trades = trades
        self.call_times: list[float] = []

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        self.call_times.append(trio.current_time())
        await trio.lowlevel.checkpoint()
        if self.left > 0:
            self.left -= 1
            raise ExchangeUnavailable("HTTP 503")
        return orjson.dumps(
            [
                {
                    "a": t.agg_id,
                    "p": t.price,
                    "q": t.quantity,
                    "f": t.first_trade_id,
                    "l": t.last_trade_id,
                    "T": t.trade_time,
                    "m": t.is_buyer_maker,
                }
                for t in self.trades
            ]
        )


async def test_ten_thousand_backfill_failures_neither_overflow_nor_pass_the_cap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    trades = make_trades("A", range(10))
    rest = DownFor(10_000, trades)
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](1)
    out_send, out_recv = trio.open_memory_channel[WriterInput](4)
    backfill = Backfill(
        FakeSource(), rest, req_recv, out_send, telemetry, retry_base_s=1.0, retry_cap_s=60.0
    )
    got: list[WriterInput] = []

    async def collect() -> None:
        async for msg in out_recv:
            got.append(msg)

    req_send.send_nowait(GapRequest("A", 0, 9))
    req_send.close()
    with trio.fail_after(10_001 * 61):  # trio-clock seconds (autojump)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await nursery.start(backfill.run)
    assert telemetry.counters["backfill_retries"] == 10_000
    pauses = [b - a for a, b in zip(rest.call_times, rest.call_times[1:], strict=False)]
    assert max(pauses) <= 60.0 + 1e-6  # capped
    assert min(pauses[-100:]) >= 60.0 - 1e-6  # and it stays at the cap, no wrap-around
    assert [t for m in got if isinstance(m, Backfilled) for t in m.trades] == trades
