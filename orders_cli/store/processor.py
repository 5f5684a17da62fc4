"""The writer's synchronous core: plan each symbol's inputs, build bars, apply every
symbol's batch with one EVALSHA (pipelined), commit in memory only what Redis accepted.

Runs in the single writer thread (``trio.to_thread``); never on the trio loop.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import attrs
import redis.exceptions

from orders_cli.errors import RedisUnavailable
from orders_cli.models import Trade
from orders_cli.pipeline.backfill_queue import COLD_PRIORITY
from orders_cli.pipeline.messages import (
    Backfilled,
    ColdStart,
    ColdStartDone,
    Dropped,
    ExchangeHole,
    GapRequest,
    HeadSeen,
    WriterInput,
)
from orders_cli.stats.bars import Bar, bars_for_batch, window_start
from orders_cli.stats.codec import current_fields, encode_bar
from orders_cli.store import gaps as gapops
from orders_cli.store import planner
from orders_cli.store.bar_cache import BarCache
from orders_cli.store.keys import TIMEFRAMES, Keyspace
from orders_cli.store.planner import Plan, PlanConfig, SymbolState
from orders_cli.store.script import APPLY_LUA, APPLY_SHA, Arg, apply_args
from orders_cli.store.symbol_io import load_states

MAX_ATTEMPTS = 5
SILENCE_ALPHA = 0.1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@attrs.define
class Outcome:
    counters: Counter[str] = attrs.field(factory=Counter)
    gap_requests: list[GapRequest] = attrs.field(factory=list)
    cold_starts: list[ColdStart] = attrs.field(factory=list)
    latencies_ms: list[float] = attrs.field(factory=list)


class Processor:
    def __init__(
        self,
        redis: Any,
        keyspace: Keyspace,
        cfg: PlanConfig,
        *,
        backfill_ms: int = 24 * 3600 * 1000,
        timeframes: Sequence[str] = TIMEFRAMES,
        clock_ms: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.ks = keyspace
        self.cfg = cfg
        unknown = set(timeframes) - set(TIMEFRAMES)
        if unknown:
            raise ValueError(f"unknown timeframes {sorted(unknown)}")
        # the bars this run maintains; "100ms" also feeds stats:{S}:current
        self.timeframes = tuple(tf for tf in TIMEFRAMES if tf in set(timeframes))
        self.backfill_ms = backfill_ms
        self.clock_ms = clock_ms
        self.monotonic = monotonic
        self.states: dict[str, SymbolState] = {}
        self.bars = BarCache(redis, keyspace)
        self._script_loaded = False

    # ------------------------------------------------------------------ loading
    def _load(self, symbols: Sequence[str], out: Outcome) -> None:
        missing = [s for s in symbols if s not in self.states]
        if not missing:
            return
        loaded = load_states(self.redis, self.ks, missing)
        pipe = self.redis.pipeline(transaction=False)
        for s in missing:
            pipe.sadd(self.ks.symbols(), s)
        pipe.execute()
        self.bars.preload(missing)
        now = self.clock_ms()
        for s, st in loaded.items():
            self.states[s] = st
            for g in st.gaps:  # resume what a previous run left open
                if g.exchange_side:
                    continue
                if g.cold:
                    out.cold_starts.append(ColdStart(s, now - self.backfill_ms, g.last + 1))
                else:
                    out.gap_requests.append(GapRequest(s, g.first, g.last, priority=1))

    def preload(self, symbols: Sequence[str]) -> Outcome:
        out = Outcome()
        self._guard(lambda: self._load(symbols, out))
        return out

    def forget(self, symbols: Sequence[str]) -> None:
        for s in symbols:
            self.states.pop(s, None)
            self.bars.forget(s)

    # ------------------------------------------------------------------ planning
    def _plan(self, st: SymbolState, items: Sequence[WriterInput], flush: bool) -> Plan:
        cfg, now_ms_, now = self.cfg, self.clock_ms(), self.monotonic()
        plan = Plan.start(st)
        for item in items:
            if isinstance(item, Trade):
                planner.classify(plan, item, live=True, now_ms=now_ms_, now=now, cfg=cfg)
            elif isinstance(item, Backfilled):
                for t in item.trades:
                    planner.classify(plan, t, live=False, now_ms=now_ms_, now=now, cfg=cfg)
            elif isinstance(item, Dropped | HeadSeen):
                top = item.max_agg_id if isinstance(item, Dropped) else item.agg_id
                planner.expect_upto(plan, top, now_ms_, cfg)
            elif isinstance(item, ExchangeHole):
                if gapops.mark_exchange_side(plan.gaps, item.first, item.last):
                    plan.state_changed = True
            elif isinstance(item, ColdStartDone) and gapops.trim_cold(plan.gaps, item.first_id):
                plan.state_changed = True
        planner.release_pending(plan, now_ms=now_ms_, now=now, cfg=cfg, flush=flush)
        plan.newest_id, plan.current_ws, plan.last_trade_time = self._newest(st, plan)
        return plan

    # ------------------------------------------------------------------ applying
    def process(self, inputs: Sequence[WriterInput], flush: bool = False) -> Outcome:
        out = Outcome()
        by_symbol: dict[str, list[WriterInput]] = defaultdict(list)
        for item in inputs:
            symbol = getattr(item, "symbol", None)
            if symbol is not None:
                by_symbol[symbol].append(item)
        for s, st in self.states.items():
            if st.pending and s not in by_symbol:
                by_symbol[s] = []
        todo = dict(by_symbol)
        for _attempt in range(MAX_ATTEMPTS):
            if not todo:
                break
            conflicts: list[str] = self._guard(partial(self._apply_round, todo, flush, out))
            out.counters["conflicts"] += len(conflicts)
            todo = {s: todo[s] for s in conflicts}
        if todo:
            raise RedisUnavailable(f"state of {sorted(todo)[:5]} keeps changing under us")
        return out

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self.states.clear()  # whatever was half-applied: reload before the next use
            self.bars.clear()
            self._script_loaded = False
            raise RedisUnavailable(f"lost Redis: {exc}") from exc

    def _apply_round(
        self, todo: dict[str, list[WriterInput]], flush: bool, out: Outcome
    ) -> list[str]:
        self._load(list(todo), out)
        plans: dict[str, Plan] = {}
        for s, items in todo.items():
            plan = self._plan(self.states[s], items, flush)
            out.counters["duplicates"] += plan.duplicates
            if plan.state_changed:
                plans[s] = plan
            else:  # nothing to write (all duplicates, or all held for reordering)
                self.states[s].pending = plan.pending
        if not plans:
            return []
        new_bars = {s: self._bars(p.applied) for s, p in plans.items() if p.applied}
        merged, fresh = self.bars.merge(new_bars)
        symbols = list(plans)
        if not self._script_loaded:
            self.redis.script_load(APPLY_LUA)
            self._script_loaded = True
        pipe = self.redis.pipeline(transaction=False)
        for s in symbols:
            args = self._args(self.states[s], plans[s], merged.get(s, {}), fresh)
            pipe.evalsha(APPLY_SHA, 12, *self.ks.symbol_keys(s), *args)
        results = pipe.execute(raise_on_error=False)
        done_ms = self.clock_ms()
        conflicts: list[str] = []
        for s, res in zip(symbols, results, strict=True):
            if isinstance(res, redis.exceptions.ResponseError):
                self.forget([s])
                if "NOSCRIPT" in str(res):
                    self._script_loaded = False
                    conflicts.append(s)
                    continue
                raise RedisUnavailable(f"Redis refused the write for {s}: {res}")
            if int(res[0]) != 1:
                self.forget([s])
                conflicts.append(s)
                continue
            self._commit(s, plans[s], merged.get(s, {}), int(res[1]), done_ms, out)
        return conflicts

    def _bars(self, trades: Sequence[Trade]) -> dict[str, dict[int, Bar]]:
        if not self.timeframes:
            return {}
        every = bars_for_batch(trades)
        if len(self.timeframes) == len(TIMEFRAMES):
            return every
        return {tf: every[tf] for tf in self.timeframes}

    def _args(
        self,
        st: SymbolState,
        plan: Plan,
        bars: dict[str, dict[int, Bar]],
        fresh: set[tuple[str, str, int]],
    ) -> list[Arg]:
        newest, cur_ws, ltt = plan.newest_id, plan.current_ws, plan.last_trade_time
        state_fields: dict[str, Arg] = {"gaps": gapops.encode_gaps(plan.gaps)}
        if plan.watermark is not None:
            state_fields["watermark"] = plan.watermark
        if newest is not None and cur_ws is not None:
            state_fields["newest_id"] = newest
            state_fields["current_ws"] = cur_ws
        info: dict[str, Arg] = {}
        if ltt is not None and ltt != st.last_trade_time:
            state_fields["last_trade_time"] = ltt
            info["last_trade_time"] = ltt
        cur: dict[str, Arg] = {}
        if cur_ws is not None and cur_ws in bars.get("100ms", {}):
            cur = dict(current_fields(bars["100ms"][cur_ws]))
        return apply_args(
            expected_revision=plan.base_revision,
            state_fields=state_fields,
            trades=sorted(plan.applied, key=lambda t: t.agg_id),
            bars={
                tf: [
                    (ws, encode_bar(b), (st.symbol, tf, ws) not in fresh)
                    for ws, b in bars.get(tf, {}).items()
                ]
                for tf in TIMEFRAMES
            },
            current_fields=cur,
            info_fields=info,
        )

    @staticmethod
    def _newest(st: SymbolState, plan: Plan) -> tuple[int | None, int | None, int | None]:
        newest, cur_ws, ltt = st.newest_id, st.current_ws, st.last_trade_time
        if plan.applied:
            top = max(plan.applied, key=lambda t: t.agg_id)
            if newest is None or top.agg_id > newest:
                newest, cur_ws = top.agg_id, window_start("100ms", top.trade_time)
            t_max = max(t.trade_time for t in plan.applied)
            if ltt is None or t_max > ltt:
                ltt = t_max
        return newest, cur_ws, ltt

    def _commit(
        self, s: str, plan: Plan, bars: dict[str, dict[int, Bar]], rev: int, done: int, out: Outcome
    ) -> None:
        st = self.states[s]
        newest, cur_ws, ltt = plan.newest_id, plan.current_ws, plan.last_trade_time
        if plan.live_event_times and st.last_trade_time is not None and ltt is not None:
            step = max(0, ltt - st.last_trade_time) / len(plan.live_event_times)
            avg = st.avg_interval_ms
            st.avg_interval_ms = step if avg is None else avg + SILENCE_ALPHA * (step - avg)
        st.revision, st.watermark, st.gaps, st.pending = (
            rev,
            plan.watermark,
            plan.gaps,
            plan.pending,
        )
        st.newest_id, st.current_ws, st.last_trade_time = newest, cur_ws, ltt
        out.counters["bar_corrections"] += self.bars.commit(s, bars)
        c = out.counters
        c["trades_stored"] += len(plan.applied)
        c["late_trades"] += plan.late
        c["gaps_opened"] += len(plan.opened)
        out.latencies_ms.extend(float(done - e) for e in plan.live_event_times)
        for g in plan.opened:
            out.gap_requests.append(GapRequest(s, g.first, g.last, priority=0))
        if plan.cold_until is not None:
            out.cold_starts.append(ColdStart(s, done - self.backfill_ms, plan.cold_until))

    # ------------------------------------------------------------------ views
    def open_gaps(self) -> tuple[int, int | None]:
        """(ids missing across all known symbols, opened_ms of the oldest open gap).
        Cold-start ranges are not counted: their size is unknown until the backfill finds
        the first trade inside the retention window."""
        total, oldest = 0, None
        for st in self.states.values():
            for g in st.gaps:
                if g.exchange_side or g.cold:
                    continue
                total += g.size
                oldest = g.opened_ms if oldest is None else min(oldest, g.opened_ms)
        return total, oldest

    def stale_gap_requests(self, older_than_ms: int) -> list[GapRequest | ColdStart]:
        """Requests for open gaps opened more than ``older_than_ms`` ago: the backfill may
        have given a range up (REST empty for a while, errors); asking again is cheap
        because the backfill merges them with what it has queued, in flight or handed to
        us, and ignores a cold start it is still running. Only the part of a cold gap
        that starts at the first possible id is asked as a cold start (its first trade
        in the window is not known yet); the rest of it is a plain id range."""
        now = self.clock_ms()
        out: list[GapRequest | ColdStart] = []
        for s, st in self.states.items():
            for g in st.gaps:
                if g.exchange_side or now - g.opened_ms < older_than_ms:
                    continue
                if g.cold and g.first <= self.cfg.first_agg_id:
                    out.append(ColdStart(s, now - self.backfill_ms, g.last + 1))
                else:
                    prio = COLD_PRIORITY if g.cold else 2
                    out.append(GapRequest(s, g.first, g.last, priority=prio, reason="retry"))
        return out

    def silent_symbols(self, min_silence_ms: int = 60_000, factor: float = 20.0) -> list[str]:
        """Symbols quiet for much longer than usual for them (``factor`` x their average
        time between trades, at least ``min_silence_ms``): a stalled stream, a delisting."""
        now = self.clock_ms()
        out = []
        for s, st in list(self.states.items()):  # read from the trio thread: copy first
            if st.avg_interval_ms is None or st.last_trade_time is None:
                continue
            if now - st.last_trade_time > max(min_silence_ms, factor * st.avg_interval_ms):
                out.append(s)
        return sorted(out)

    def pending_count(self) -> int:
        return sum(len(st.pending) for st in self.states.values())
