"""The cold-start backfill's progress and its ready moment: symbols done of total, pages
fetched and left, an ETA from the REST budget's weight arithmetic, and the one moment the
history is complete (every symbol head-checked since it went live, no gap left)."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from rich.console import Console

from orders_cli.cli.render_ops import status_view
from orders_cli.cli.render_run import panel
from orders_cli.health import snapshot
from orders_cli.messages import BackfillInput, ColdStart, WriterInput
from orders_cli.metrics import TelemetryCollector
from orders_cli.models import Gap
from orders_cli.ops.status import Verdict
from orders_cli.pipeline.backfill import Backfill
from orders_cli.pipeline.backfill_progress import ColdPages, HistoryWatch, pages_for
from orders_cli.pipeline.backfill_queue import LocateWork, RangeWork
from orders_cli.sources.base import RestRequest
from orders_cli.store.planner import SymbolState
from orders_cli.telemetry import HistoryProgress, Telemetry
from tests.pipeline.bffake import T0, FakeExchange, FakeSource, make_trades


def test_the_eta_is_the_pages_left_times_their_weight_over_the_budgets_weight_a_minute() -> None:
    # 1,200 pages of weight 4 at 4,800 weight a minute (6,000 x 0.8): one minute
    progress = HistoryProgress(pages_left=1_200, page_weight=4, weight_per_minute=4_800)
    assert progress.eta_s() == 60.0
    assert HistoryProgress(pages_left=0, page_weight=4, weight_per_minute=4_800).eta_s() == 0.0
    assert HistoryProgress(pages_left=5, page_weight=4, weight_per_minute=0).eta_s() is None


async def test_the_eta_follows_the_pace_of_late_when_it_is_slower_than_the_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tel = Telemetry()
    watch = HistoryWatch(tel, page_weight=4, weight_per_minute=48_000)  # 200 pages/s
    tel.history.pages_left = 100
    watch.update(["A"], {}, set(), set())
    assert tel.history.eta_s() == 0.5  # no pace seen yet: the budget's arithmetic
    for _ in range(40):  # the writer takes 10 pages a second
        await trio.sleep(1)
        tel.count("backfill_cold_pages", 10)
        watch.update(["A"], {}, set(), set())
    assert tel.history.pages_per_s == 10.0
    assert tel.history.eta_s() == 10.0


def test_pages_left_of_cold_work_are_its_ids_over_the_page_size_rounded_up() -> None:
    assert pages_for(RangeWork("A", 1, 2_500, 5, 0, cold=True), 1_000) == 3
    assert pages_for(RangeWork("A", 1, 1_000, 5, 0, cold=True), 1_000) == 1
    assert pages_for(RangeWork("A", 1, None, 5, 0, cold=True), 1_000) == 1  # to the head
    assert pages_for(LocateWork("A", T0, 2_400, 5, 0), 1_000) == 1  # its end: not known yet
    assert pages_for(RangeWork("A", 1, 2_500, 0, 0), 1_000) == 0  # a gap fill: not history


class _Watched(FakeExchange):
    """Records the backfill's estimate of pages left as each REST call goes out."""

    def __init__(self, telemetry: Telemetry, *args: Any) -> None:
        super().__init__(*args)
        self.telemetry = telemetry
        self.left_at_call: list[int] = []

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        self.left_at_call.append(self.telemetry.history.pages_left)
        return await super().get(req, speculative=speculative)


def test_a_symbol_not_located_yet_counts_as_many_pages_as_the_located_ones_took() -> None:
    pages = ColdPages(1_000)
    pages.update("A", [LocateWork("A", T0, 2_501, 5, 0)])
    pages.update("B", [LocateWork("B", T0, 9_000, 5, 1)])
    assert pages.total() == 2  # nothing located yet: a page each
    pages.update("A", [RangeWork("A", 1, 2_500, 5, 0, cold=True)])  # 1 + 3 pages for A
    assert pages.total() == 3 + 4  # A's 3 left, B as many as A took
    pages.update("A", [])
    pages.update("B", [])  # B had nothing in the window
    assert pages.total() == 0 and "A" not in pages


async def test_a_cold_start_counts_its_pages_and_what_is_left_as_they_come(
    autojump_clock: trio.testing.MockClock,
) -> None:
    telemetry = Telemetry()
    ex = _Watched(telemetry, {"SOLUSDT": make_trades("SOLUSDT", range(2500))})
    req_send, req_recv = trio.open_memory_channel[BackfillInput](1)
    out_send, out_recv = trio.open_memory_channel[WriterInput](100)
    backfill = Backfill(FakeSource(), ex, req_recv, out_send, telemetry, concurrency=2)
    req_send.send_nowait(ColdStart("SOLUSDT", T0 + 300 * 10 - 5, until_id=2400))
    req_send.close()
    with trio.fail_after(3600):
        await backfill.run()
    # the locate call (its end unknown: 1 left), then ids 1300..2399: 2 pages, then 1
    assert ex.left_at_call == [1, 2, 1]
    assert telemetry.history.pages_left == 0
    assert telemetry.counters["backfill_cold_pages"] == 3
    out_recv.close()


async def test_history_completes_once_every_symbol_is_head_checked_and_has_no_gap_left(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tel = Telemetry()
    watch = HistoryWatch(tel, page_weight=4, weight_per_minute=4_800)
    states = {
        "A": SymbolState("A", watermark=10, gaps=[Gap(0, 9, T0, cold=True)]),
        "B": SymbolState("B", watermark=5),
        "C": SymbolState("C", watermark=7),  # from a previous run: not checked yet
    }
    symbols = ["A", "B", "C", "IDLE"]
    await trio.sleep(10)
    tel.history.pages_left = 3  # the backfill's figure
    assert not watch.update(symbols, states, heads_seen={"A", "B"}, heads_empty=set())
    h = tel.history
    assert (h.symbols_done, h.symbols_total, h.pages_left) == (1, 4, 3)  # B only
    assert h.eta_s() == 3 * 4 * 60 / 4_800 and not h.complete

    states["A"].gaps.clear()  # its cold start ended
    await trio.sleep(31)
    assert not watch.update(symbols, states, {"A", "B", "C"}, heads_empty={"IDLE"})
    assert h.symbols_done == 4  # all there, but the backfill still has pages queued
    tel.history.pages_left = 0
    assert watch.update(symbols, states, {"A", "B", "C"}, heads_empty={"IDLE"})
    assert h.complete and h.complete_after_s == 41.0 and h.symbols_done == 4

    states["A"].gaps.append(Gap(11, 12, T0))  # a later gap does not undo the moment
    assert not watch.update(symbols, states, {"A", "B", "C"}, {"IDLE"})
    assert h.complete and h.complete_after_s == 41.0


async def test_a_symbol_with_an_exchange_side_hole_only_is_complete(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tel = Telemetry()
    watch = HistoryWatch(tel, page_weight=4, weight_per_minute=4_800)
    states = {"A": SymbolState("A", watermark=10, gaps=[Gap(3, 4, T0, exchange_side=True)])}
    assert watch.update(["A"], states, {"A"}, set())


def test_progress_shows_in_the_panel_the_health_record_and_the_metrics() -> None:
    tel = Telemetry()
    tel.history = HistoryProgress(
        symbols_total=303, symbols_done=120, pages_left=1_200, page_weight=4,
        weight_per_minute=4_800,
    )  # fmt: skip
    tel.count("backfill_cold_pages", 1_450)
    console = Console(width=80, record=True, color_system=None)
    console.print(panel(tel, 0.0, "orders run"))
    text = console.export_text()
    assert "history 120/303 symbols" in text and "pages 1,450" in text and "ETA 1m" in text
    snap = snapshot(tel, "host-1")["history"]
    assert snap == {
        "complete": False,
        "complete_after_s": None,
        "symbols_done": 120,
        "symbols_total": 303,
        "pages": 1_450,
        "pages_left": 1_200,
        "eta_s": 60.0,
    }
    metrics = {m.name: m.samples[0].value for m in TelemetryCollector(tel).collect() if m.samples}
    assert metrics["orders_history_complete"] == 0.0
    assert metrics["orders_history_eta_seconds"] == 60.0
    console = Console(width=200, record=True, color_system=None)
    console.print(status_view([snapshot(tel, "host-1")], Verdict(True, (), ())))
    assert "history 120/303 symbols · pages 1,450 (1,200 left) · ETA 1m" in console.export_text()

    tel.history.complete_after_s = 41.0
    console = Console(width=80, record=True, color_system=None)
    console.print(panel(tel, 0.0, "orders run"))
    assert "history complete in 41s" in console.export_text()
    metrics = {m.name: m.samples[0].value for m in TelemetryCollector(tel).collect() if m.samples}
    assert metrics["orders_history_complete"] == 1.0
