"""The backfill service against a FAKE exchange (in-memory trades answering RestRequests
like Binance spot: fromId inclusive, limit, startTime-only oldest first, no params =
latest ``limit``, weight per request). Time is trio's autojump clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio

from orders_cli.messages import (
    Backfilled,
    BackfillInput,
    ColdStart,
    ColdStartDone,
    ExchangeHole,
    GapRequest,
    HeadCheck,
    HeadSeen,
    WriterInput,
)
from orders_cli.pipeline.backfill import (
    Backfill,
    ColdStartPlanner,
    SpotColdStart,
    WindowedColdStart,
    planner_for,
)
from orders_cli.pipeline.backfill_plan import AggTradesSource
from orders_cli.sources.registry import SOURCES
from orders_cli.telemetry import Telemetry
from tests.pipeline.bffake import (
    T0,
    FakeExchange,
    FakeSource,
    PacedRest,
    ids_of,
    make_trades,
    params,
)


async def run_backfill(
    rest: FakeExchange | PacedRest,
    inputs: Sequence[BackfillInput],
    *,
    concurrency: int = 4,
    page_limit: int = 1000,
    planner: ColdStartPlanner | None = None,
    clock_ms: int = T0 + 10_000_000,
    source: AggTradesSource | None = None,
) -> tuple[list[WriterInput], Telemetry, Backfill]:
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](max(1, len(inputs)))
    out_send, out_recv = trio.open_memory_channel[WriterInput](4)
    backfill = Backfill(
        source if source is not None else FakeSource(),
        rest,
        req_recv,
        out_send,
        telemetry,
        concurrency=concurrency,
        page_limit=page_limit,
        clock_ms=lambda: clock_ms,
        planner=planner,
    )
    got: list[WriterInput] = []

    async def collect() -> None:
        async for msg in out_recv:
            got.append(msg)

    for msg in inputs:
        req_send.send_nowait(msg)
    req_send.close()
    with trio.fail_after(3600):  # trio-clock seconds (autojump): a hang fails, fast
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await nursery.start(backfill.run)
    return got, telemetry, backfill


def holes_of(msgs: Sequence[WriterInput]) -> list[tuple[str, int, int]]:
    return [(m.symbol, m.first, m.last) for m in msgs if isinstance(m, ExchangeHole)]


async def test_gap_fill_across_pages(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"BTCUSDT": make_trades("BTCUSDT", range(3000))})
    got, tel, bf = await run_backfill(ex, [GapRequest("BTCUSDT", 100, 2600)])
    assert ids_of(got, "BTCUSDT") == list(range(100, 2601))
    assert [(p["fromId"], p["limit"]) for p in params(ex)] == [
        ("100", "1000"),
        ("1100", "1000"),
        ("2100", "501"),
    ]
    assert all(len(m.trades) <= 1000 for m in got if isinstance(m, Backfilled))
    assert holes_of(got) == []
    assert tel.counters["backfill_rest_calls"] == 3
    assert tel.counters["backfill_trades"] == 2501
    assert bf.pending() == 0 and bf.in_flight == 0 and bf.done == 3
    assert tel.backfill_queue == 0


async def test_exact_ids_only(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"ETHUSDT": make_trades("ETHUSDT", range(50))})
    got, _, _ = await run_backfill(ex, [GapRequest("ETHUSDT", 10, 20)])
    assert ids_of(got, "ETHUSDT") == list(range(10, 21))
    assert params(ex) == [{"symbol": "ETHUSDT", "fromId": "10", "limit": "11"}]


async def test_open_gap_runs_to_the_head_and_stops(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"BNBUSDT": make_trades("BNBUSDT", range(2400))})
    got, _, _ = await run_backfill(ex, [GapRequest("BNBUSDT", 500, None)])
    assert ids_of(got, "BNBUSDT") == list(range(500, 2400))
    assert [p["fromId"] for p in params(ex)] == ["500", "1500"]  # short 2nd page = head

    ex = FakeExchange({"BNBUSDT": make_trades("BNBUSDT", range(2000))})
    got, _, _ = await run_backfill(ex, [GapRequest("BNBUSDT", 0, None)])
    assert ids_of(got, "BNBUSDT") == list(range(2000))
    # a full last page: one more call, empty, ends it (nothing more yet)
    assert [p["fromId"] for p in params(ex)] == ["0", "1000", "2000"]


async def test_exchange_side_holes_reported_exactly_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    present = [i for i in range(50, 1000) if not 95 <= i <= 104 and i != 500]
    ex = FakeExchange({"XRPUSDT": make_trades("XRPUSDT", present)})
    got, tel, _ = await run_backfill(ex, [GapRequest("XRPUSDT", 0, 999)], page_limit=100)
    # below what REST has at all, a hole across a page boundary, a single missing id
    assert holes_of(got) == [("XRPUSDT", 0, 49), ("XRPUSDT", 95, 104), ("XRPUSDT", 500, 500)]
    assert ids_of(got, "XRPUSDT") == present
    assert tel.counters["exchange_holes"] == 3
    assert tel.counters["exchange_hole_ids"] == 50 + 10 + 1


async def test_gap_entirely_missing_on_the_exchange(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"XRPUSDT": make_trades("XRPUSDT", [*range(10), *range(30, 40)])})
    got, _, _ = await run_backfill(ex, [GapRequest("XRPUSDT", 12, 20)])
    assert holes_of(got) == [("XRPUSDT", 12, 20)]
    assert ids_of(got, "XRPUSDT") == []
    assert len(ex.requests) == 1  # never retried


async def test_cold_start_one_start_time_call_then_from_id_pages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({"SOLUSDT": make_trades("SOLUSDT", range(2500))})
    since = T0 + 300 * 10 - 5  # first trade at/after it: id 300
    got, tel, _ = await run_backfill(ex, [ColdStart("SOLUSDT", since, until_id=2400)])
    assert params(ex) == [
        {"symbol": "SOLUSDT", "startTime": str(since), "limit": "1000"},
        {"symbol": "SOLUSDT", "fromId": "1300", "limit": "1000"},
        {"symbol": "SOLUSDT", "fromId": "2300", "limit": "100"},
    ]
    assert ids_of(got, "SOLUSDT") == list(range(300, 2400))
    assert got[-1] == ColdStartDone("SOLUSDT", 300)  # after every page
    assert tel.counters["backfill_rest_calls"] == 3


async def test_cold_start_to_the_head(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"SOLUSDT": make_trades("SOLUSDT", range(1500))})
    got, _, _ = await run_backfill(ex, [ColdStart("SOLUSDT", T0, until_id=None)])
    assert [(p.get("startTime"), p.get("fromId")) for p in params(ex)] == [
        (str(T0), None),
        (None, "1000"),
    ]
    assert ids_of(got, "SOLUSDT") == list(range(1500))
    assert got[-1] == ColdStartDone("SOLUSDT", 0)

    # short startTime reply: it already reached the head, no fromId call
    ex = FakeExchange({"SOLUSDT": make_trades("SOLUSDT", range(10))})
    got, _, _ = await run_backfill(ex, [ColdStart("SOLUSDT", T0, until_id=None)])
    assert len(ex.requests) == 1 and got[-1] == ColdStartDone("SOLUSDT", 0)


async def test_cold_start_nothing_in_window(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"OLDUSDT": make_trades("OLDUSDT", range(10))})
    got, _, _ = await run_backfill(ex, [ColdStart("OLDUSDT", T0 + 10**9, until_id=None)])
    assert got == [ColdStartDone("OLDUSDT", None)]
    assert len(ex.requests) == 1


async def test_windowed_cold_start_for_futures(autojump_clock: trio.testing.MockClock) -> None:
    # trades start 2.5 h after since; windows are < 1 h and never carry fromId
    ids = range(1000, 1300)
    trades = make_trades("BTCUSDT", ids, step_ms=60_000)  # T = T0 + id minutes
    ex = FakeExchange({"BTCUSDT": trades})
    since = trades[0].trade_time - 150 * 60_000
    got, _, _ = await run_backfill(
        ex,
        [ColdStart("BTCUSDT", since, until_id=1200)],
        planner=WindowedColdStart(),
        clock_ms=trades[-1].trade_time + 1,
    )
    windows = [p for p in params(ex) if "startTime" in p]
    assert len(windows) == 3  # 2 empty windows, the 3rd holds the first trade
    for p in windows:
        assert "fromId" not in p
        assert int(p["endTime"]) - int(p["startTime"]) < 3_600_000
    assert ids_of(got, "BTCUSDT") == list(range(1000, 1200))
    assert got[-1] == ColdStartDone("BTCUSDT", 1000)


async def test_head_check(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange(
        {"A": make_trades("A", range(77)), "B": make_trades("B", range(5, 9)), "C": []}
    )
    got, tel, _ = await run_backfill(ex, [HeadCheck(("A", "B", "C"))])
    assert sorted(got, key=repr) == [HeadSeen("A", 76), HeadSeen("B", 8)]
    assert all(p == {"symbol": p["symbol"], "limit": "1"} for p in params(ex))
    assert sum(r.weight for r in ex.requests) == 3 * 4
    assert tel.counters["backfill_rest_calls"] == 3


async def test_priority_recent_first(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({s: make_trades(s, range(10)) for s in "ABCDE"})
    reqs: list[BackfillInput] = [
        GapRequest("A", 0, 5, priority=2),
        GapRequest("B", 0, 5, priority=0),
        GapRequest("C", 0, 5, priority=1),
        GapRequest("D", 0, 5, priority=0),
        ColdStart("E", T0, until_id=3),
    ]
    await run_backfill(ex, reqs, concurrency=1)
    # lower priority first; among equals the newest request first; cold starts last
    assert [r.params["symbol"] for r in ex.requests] == ["D", "B", "C", "A", "E"]


async def test_overlapping_requests_merged(autojump_clock: trio.testing.MockClock) -> None:
    ex = FakeExchange({"A": make_trades("A", range(3000))})
    reqs = [GapRequest("A", 100, 900), GapRequest("A", 500, 1500), GapRequest("A", 1501, 1600)]
    got, _, _ = await run_backfill(ex, reqs)
    assert ids_of(got, "A") == list(range(100, 1601))  # each id once
    assert [p["fromId"] for p in params(ex)] == ["100", "1100"]


async def test_exchange_unavailable_is_retried_later_not_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({"A": make_trades("A", range(1500))}, fail_first=3)
    start = trio.current_time()
    got, tel, bf = await run_backfill(ex, [GapRequest("A", 0, 1499)])
    assert ids_of(got, "A") == list(range(1500))
    assert tel.counters["backfill_retries"] == 3
    assert tel.counters["backfill_errors"] == 3
    assert trio.current_time() - start >= 1 + 2 + 4  # backoff between attempts
    assert bf.pending() == 0


async def test_exchange_rejected_is_dropped_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({"A": make_trades("A", range(10))})
    got, tel, _ = await run_backfill(
        ex, [GapRequest("DELISTED", 0, 5), GapRequest("A", 0, 9), HeadCheck(("GONE",))]
    )
    assert ids_of(got, "A") == list(range(10))
    assert tel.counters["backfill_dropped"] == 2
    assert tel.counters["backfill_errors"] == 2
    assert [r.params["symbol"] for r in ex.requests].count("DELISTED") == 1


async def test_rejected_cold_start_still_reports_done(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({})
    got, tel, _ = await run_backfill(ex, [ColdStart("GONE", T0, until_id=None)])
    assert got == [ColdStartDone("GONE", None)]
    assert tel.counters["backfill_dropped"] == 1


async def test_empty_reply_below_a_seen_id_is_retried_then_given_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # the live stream saw id 20 but REST does not have 10..20 yet (REST lags)
    ex = FakeExchange({"A": make_trades("A", range(10))})
    got, tel, _ = await run_backfill(ex, [GapRequest("A", 10, 20)])
    assert got == []  # not declared an exchange-side hole
    assert len(ex.requests) == 4
    assert tel.counters["backfill_gave_up"] == 1


async def test_cold_start_weight_for_1000_symbols_stays_under_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Pages of 50 instead of 1,000 keep the test fast: the calls (and so the weight)
    # per symbol are the same -- one startTime call, then one fromId page.
    symbols = [f"S{i:04d}USDT" for i in range(1000)]
    ex = FakeExchange({s: make_trades(s, range(75)) for s in symbols}, hard_limit=6000)
    budget = int(6000 * 0.8)
    inputs = [ColdStart(s, T0, until_id=70) for s in symbols]
    got, tel, _ = await run_backfill(PacedRest(ex, budget), inputs, concurrency=8, page_limit=50)
    expected_weight = len(symbols) * 2 * 4
    assert sum(w for _, w in ex.calls) == expected_weight == tel.counters["backfill_weight"]
    minutes = {int(t // 60) for t, _ in ex.calls}
    assert max(ex.minute_weight(m) for m in minutes) <= budget
    assert len(minutes) == -(-expected_weight // budget)  # 8,000 weight = 2 minutes
    assert ex.too_many == 0
    assert sum(isinstance(m, ColdStartDone) for m in got) == 1000
    assert tel.counters["backfill_trades"] == 1000 * 70


@pytest.mark.parametrize("planner", [SpotColdStart(), WindowedColdStart()])
def test_planners_give_up(planner: ColdStartPlanner) -> None:
    src = FakeSource()
    assert planner.locate(src, "A", T0 + 1, step=10**6, now_ms=T0, limit=1000) is None


def test_planner_for_sources() -> None:
    assert planner_for(SOURCES["spot"]) == SpotColdStart()
    assert planner_for(SOURCES["usdm"]) == SpotColdStart()  # startTime alone: any distance
    assert planner_for(FakeSource()) == SpotColdStart()


@pytest.mark.parametrize("market", sorted(SOURCES))
async def test_with_the_real_sources(market: str, autojump_clock: trio.testing.MockClock) -> None:
    """Cold start then a gap with each registered source's own requests and parser."""
    source = SOURCES[market]
    first = source.limits.first_agg_id
    trades = make_trades("BTCUSDT", range(first, first + 2500), step_ms=1000)
    ex = FakeExchange({"BTCUSDT": trades})
    since = trades[0].trade_time - 10
    got, tel, _ = await run_backfill(
        ex,
        [ColdStart("BTCUSDT", since, until_id=first + 2000), GapRequest("BTCUSDT", first, first)],
        source=source,
        clock_ms=trades[-1].trade_time + 1,
    )
    assert sorted(set(ids_of(got, "BTCUSDT"))) == list(range(first, first + 2000))
    assert got[-1] == ColdStartDone("BTCUSDT", first)
    ps = params(ex)
    assert ps[0] == {"symbol": "BTCUSDT", "fromId": str(first), "limit": "1"}  # the gap first
    (locate,) = [p for p in ps if "startTime" in p]
    assert "fromId" not in locate
    assert "endTime" not in locate  # startTime alone on every market (futures too)
    assert tel.counters["backfill_weight"] == len(ps) * source.limits.agg_trades_weight


async def test_request_covered_by_a_page_in_flight_is_not_fetched_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ex = FakeExchange({"A": make_trades("A", range(1500))})
    telemetry = Telemetry()
    req_send, req_recv = trio.open_memory_channel[BackfillInput](4)
    out_send, out_recv = trio.open_memory_channel[WriterInput](100)
    bf = Backfill(FakeSource(), ex, req_recv, out_send, telemetry)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(bf.run)
            await req_send.send(GapRequest("A", 0, None))
            await trio.sleep(0.01)  # the first page (0..999) is in flight
            assert bf.in_flight == 1
            await req_send.send(GapRequest("A", 500, 600, priority=0))
            await req_send.aclose()
    got = [m async for m in out_recv]
    assert ids_of(got, "A") == list(range(1500))
    assert [p["fromId"] for p in params(ex)] == ["0", "1000"]


@pytest.mark.parametrize("market", ["usdm", "coinm"])
def test_a_futures_cold_start_locates_its_first_trade_with_one_call_of_24h(market: str) -> None:
    source = SOURCES[market]
    planner = planner_for(source)
    now = 1_800_000_000_000
    since = now - 24 * 3_600_000
    first = planner.locate(source, "BTCUSDT", since, step=0, now_ms=now, limit=1000)
    assert first is not None
    assert first.params["startTime"] == str(since) and "endTime" not in first.params
    assert first.weight == 20
    # an empty reply ends the search: not 23 more hour-long windows of weight 20
    assert planner.locate(source, "BTCUSDT", since, step=1, now_ms=now, limit=1000) is None
    assert planner.open_ended
