"""Pure per-symbol planning: which trades to apply, which are duplicates, which to hold
for the reorder window, which gaps open — on a copy of the symbol's state, so a failed or
conflicting apply leaves the committed state untouched.

Rules: ids of a symbol are contiguous. A trade at watermark+1 advances it;
above watermark+1 a live trade is held up to the reorder window (an equal-``T`` burst may
arrive out of id order) before a gap is declared; a REST trade opens the gap at once; at
or below the watermark a trade is applied only when it fills a recorded gap, otherwise it
is a duplicate.
"""

from __future__ import annotations

import attr

from orders_cli.models import Gap, Trade

# ``attr.s(auto_attribs=True)`` rather than ``attrs.define``: the same classes, and the
# form mypyc compiles into native classes (orders_cli/compiled.py)
from orders_cli.store import gaps as gapops


@attr.s(auto_attribs=True, slots=True)
class Pending:
    trade: Trade
    held_since: float  # monotonic seconds


@attr.s(auto_attribs=True, slots=True)
class SymbolState:
    """What the writer knows of one symbol (committed = equal to Redis at ``revision``)."""

    symbol: str
    revision: int = 0
    watermark: int | None = None
    gaps: list[Gap] = attr.ib(factory=list)
    newest_id: int | None = None  # highest agg id applied (the symbol's newest trade)
    current_ws: int | None = None  # 100 ms window of the newest trade
    last_trade_time: int | None = None
    # first-coarse-timeframe windows holding base bars not yet rolled up (store/rollup.py)
    rollup: tuple[int, ...] = ()
    pending: list[Pending] = attr.ib(factory=list)
    # moving average of the time between the symbol's trades (ms): what "usual" means
    # when telling a quiet symbol from a silent one (memory only)
    avg_interval_ms: float | None = None


@attr.s(auto_attribs=True, slots=True)
class Plan:
    """The outcome of planning one symbol's inputs, applied only if Redis agrees."""

    symbol: str
    base_revision: int
    watermark: int | None
    # the state's own list until the plan changes a gap (copy on write): an apply that
    # changes none costs nothing per open gap (no copy, no compare, no JSON encode)
    gaps: list[Gap]
    pending: list[Pending]
    applied: list[Trade] = attr.ib(factory=list)
    live_event_times: list[int] = attr.ib(factory=list)  # E of applied live trades
    duplicates: int = 0
    late: int = 0  # applied below the watermark (filled a recorded gap)
    opened: list[Gap] = attr.ib(factory=list)  # new non-cold gaps (request a backfill)
    cold_until: int | None = None  # a cold start is needed up to this id (exclusive)
    # the symbol's newest trade, its 100 ms window and the latest T, once planned
    newest_id: int | None = None
    current_ws: int | None = None
    last_trade_time: int | None = None
    state_changed: bool = False
    gaps_changed: bool = False

    @classmethod
    def start(cls, state: SymbolState) -> Plan:
        return cls(
            symbol=state.symbol,
            base_revision=state.revision,
            watermark=state.watermark,
            gaps=state.gaps,
            pending=list(state.pending),
        )


def own_gaps(plan: Plan) -> list[Gap]:
    """The plan's gap list, copied from the state's the first time it changes."""
    if not plan.gaps_changed:
        plan.gaps = list(plan.gaps)
        plan.gaps_changed = plan.state_changed = True
    return plan.gaps


def mark_exchange_side(plan: Plan, first: int, last: int) -> None:
    """``ExchangeHole``: ids ``[first, last]`` of open gaps are exchange-side holes."""
    gaps = list(plan.gaps)
    if gapops.mark_exchange_side(gaps, first, last):
        own_gaps(plan)[:] = gaps


def trim_cold(plan: Plan, first_kept: int | None) -> None:
    """``ColdStartDone``: cold-gap ids below ``first_kept`` are out of retention."""
    gaps = list(plan.gaps)
    if gapops.trim_cold(gaps, first_kept):
        own_gaps(plan)[:] = gaps


@attr.s(auto_attribs=True, slots=True, frozen=True)
class PlanConfig:
    first_agg_id: int = 0  # the id a brand-new listing starts at (0 spot, 1 USD-M)
    cold_start: bool = True  # backfill what came before the first id we see
    reorder_s: float = 0.25
    max_pending: int = 20_000
    # without a cold start, hold a symbol's first live trades for the reorder window so an
    # out-of-order burst that introduces it loses nothing (off: apply the first at once)
    first_sight_hold: bool = True


def _expect_upto(plan: Plan, agg_id: int, now_ms: int, cfg: PlanConfig) -> None:
    """Everything up to ``agg_id`` exists at the exchange: what we have not applied is a gap."""
    wm = plan.watermark
    if wm is None:
        if cfg.cold_start and agg_id >= cfg.first_agg_id:
            gapops.open_gap(own_gaps(plan), Gap(cfg.first_agg_id, agg_id, now_ms, cold=True))
            plan.cold_until = agg_id + 1
        plan.watermark = agg_id
        plan.state_changed = True
    elif agg_id > wm:
        gap = Gap(wm + 1, agg_id, now_ms)
        gapops.open_gap(own_gaps(plan), gap)
        plan.opened.append(gap)
        plan.watermark = agg_id
        plan.state_changed = True


def _apply(plan: Plan, trade: Trade, live: bool) -> None:
    plan.applied.append(trade)
    plan.state_changed = True
    if live:
        plan.live_event_times.append(trade.event_time)


def classify(
    plan: Plan, trade: Trade, *, live: bool, now_ms: int, now: float, cfg: PlanConfig
) -> None:
    a = trade.agg_id
    wm = plan.watermark
    if wm is None and live and not cfg.cold_start and cfg.first_sight_hold:
        # first sight without a backfill: the burst that introduces the symbol may come
        # out of id order, so hold it for the reorder window and start at its lowest id
        plan.pending.append(Pending(trade, now))
        return
    if wm is None:
        if cfg.cold_start and a > cfg.first_agg_id:
            gapops.open_gap(own_gaps(plan), Gap(cfg.first_agg_id, a - 1, now_ms, cold=True))
            plan.cold_until = a
        plan.watermark = a
        _apply(plan, trade, live)
    elif a <= wm:
        idx = gapops.find(plan.gaps, a)
        if idx is None:
            plan.duplicates += 1
            return
        gapops.fill(own_gaps(plan), idx, a)
        plan.late += 1
        _apply(plan, trade, live)
    elif a == wm + 1:
        plan.watermark = a
        _apply(plan, trade, live)
    elif live:
        plan.pending.append(Pending(trade, now))
    else:
        _expect_upto(plan, a - 1, now_ms, cfg)
        plan.watermark = a
        _apply(plan, trade, live)


def release_pending(plan: Plan, *, now_ms: int, now: float, cfg: PlanConfig, flush: bool) -> None:
    """Apply held trades that became contiguous; declare a gap for those held too long."""
    if not plan.pending:
        return
    plan.pending.sort(key=lambda p: p.trade.agg_id)
    if plan.watermark is None:
        oldest = min(p.held_since for p in plan.pending)
        if not (flush or now - oldest >= cfg.reorder_s or len(plan.pending) > cfg.max_pending):
            return
        plan.watermark = plan.pending[0].trade.agg_id - 1
        plan.state_changed = True
    keep: list[Pending] = []
    too_many = len(plan.pending) > cfg.max_pending
    for i, p in enumerate(plan.pending):
        a = p.trade.agg_id
        wm = plan.watermark
        assert wm is not None  # pending only exists once a watermark does
        if a <= wm + 1:
            classify(plan, p.trade, live=True, now_ms=now_ms, now=now, cfg=cfg)
            continue
        if flush or too_many or now - p.held_since >= cfg.reorder_s:
            _expect_upto(plan, a - 1, now_ms, cfg)
            classify(plan, p.trade, live=True, now_ms=now_ms, now=now, cfg=cfg)
            continue
        keep = plan.pending[i:]
        break
    plan.pending = keep


def expect_upto(plan: Plan, agg_id: int, now_ms: int, cfg: PlanConfig) -> None:
    """Public form for ``Dropped`` / ``HeadSeen``: ids up to ``agg_id`` exist."""
    _expect_upto(plan, agg_id, now_ms, cfg)
