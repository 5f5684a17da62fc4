"""The writer's synchronous core: plan each symbol's inputs, build bars, apply every
symbol's batch with one EVALSHA (pipelined), commit in memory only what Redis accepted.

Runs in the single writer thread (``trio.to_thread``); never on the trio loop.
"""

from __future__ import annotations

import logging
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import attrs
import redis.exceptions

from orders_cli.clock import now_ms
from orders_cli.errors import RedisRefusing, RedisUnavailable
from orders_cli.messages import (
    COLD_PRIORITY,
    Backfilled,
    ColdStart,
    ColdStartDone,
    Dropped,
    ExchangeHole,
    GapRequest,
    HeadSeen,
    WriterInput,
)
from orders_cli.models import Gap, Trade
from orders_cli.redis_errors import LOST, as_orders_error, classify, refusing
from orders_cli.redis_types import RedisClient
from orders_cli.stats.bars import window_start
from orders_cli.stats.codec import encode_bar, encode_bar_and_current
from orders_cli.stats.fixed import FixedBar, bars_for_batch
from orders_cli.store import gaps as gapops
from orders_cli.store import packed, planner
from orders_cli.store.bar_cache import BarCache
from orders_cli.store.keys import SYMBOL_KEY_COUNT, Keyspace
from orders_cli.store.planner import Plan, PlanConfig, SymbolState
from orders_cli.store.quarantine import Round, quarantine
from orders_cli.store.rollup import (
    Rollups,
    encode_marker,
)
from orders_cli.store.rollup_recovery import recover_rollup
from orders_cli.store.script import APPLY_LUA, APPLY_SHA, Arg, apply_args
from orders_cli.store.symbol_io import load_revisions, load_states
from orders_cli.timeframes import FINEST, TIMEFRAMES

log = logging.getLogger("orders.writer")
MAX_ATTEMPTS = 5
_AGG_ID = operator.attrgetter("agg_id")
_TRADE_TIME = operator.attrgetter("trade_time")
SILENCE_ALPHA = 0.1
LAZY_HORIZON_MS = 3_600_000
"""Coarse bars of windows older than this are rolled up in the same apply (a late or
backfilled trade): lazy roll-up is for the hot, recent windows only, whose trades are
certainly still stored if a crash leaves them to :func:`rollup.recompute`."""


@attrs.define
class Outcome:
    counters: Counter[str] = attrs.field(factory=Counter)
    gap_requests: list[GapRequest] = attrs.field(factory=list)
    cold_starts: list[ColdStart] = attrs.field(factory=list)
    latencies_ms: list[float] = attrs.field(factory=list)
    # symbols whose apply Redis refused for now (OOM, READONLY...): their inputs, to be
    # retried alone; what the other symbols applied in the round is stored
    refused: dict[str, list[WriterInput]] = attrs.field(factory=dict)
    refusal: RedisRefusing | None = None
    # symbols whose state Redis holds at an older revision than this writer committed
    rolled_back: list[str] = attrs.field(factory=list)
    live: Counter[str] = attrs.field(factory=Counter)  # live trades applied, by symbol
    gaps_opened: Counter[str] = attrs.field(factory=Counter)  # ranges declared, by symbol


class Processor:
    def __init__(
        self,
        redis: RedisClient,
        keyspace: Keyspace,
        cfg: PlanConfig,
        *,
        backfill_ms: int = 24 * 3600 * 1000,
        timeframes: Sequence[str] = TIMEFRAMES,
        rollup_s: float = 0.0,
        retention_ms: int = 24 * 3600 * 1000,
        clock_ms: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rollup_s`` > 0: coarse bars are rolled up from the finest timeframe at most
        that often per symbol (store/rollup.py); 0: in every apply. ``retention_ms``: how
        long trades are kept (bounds what a crash recovery can recompute)."""
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
        # gaps are stamped and aged on this clock: the wall clock at start plus monotonic
        # time since, so a wall clock that steps neither ages nor rejuvenates a gap
        self._gap_clock_base = clock_ms() - round(monotonic() * 1000)
        self.states: dict[str, SymbolState] = {}
        self.bars = BarCache(redis, keyspace)
        self.rollups = Rollups(self.timeframes, rollup_s)
        self.retention_ms = retention_ms
        self._symbol_keys: dict[str, list[str]] = {}
        self._script_loaded = False
        # revisions committed before the last reset (reload them all: did Redis go back?)
        self._known: dict[str, int] = {}
        self._recheck = False  # one state went back: check every other one's revision
        # symbols found rolled back, until a call that returns reports them (one that
        # raises after finding them, a node failing mid-round, must not lose them)
        self._lost: dict[str, None] = {}
        # symbol -> (ids missing, oldest opened_ms, gap records) of its open gaps (neither
        # exchange-side nor cold), kept when gaps change: the views cost per symbol with
        # gaps, never per gap, per batch
        self._gap_summary: dict[str, tuple[int, int, int]] = {}

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
        for s, st in loaded.items():
            if st.rollup:  # bars a previous writer left not rolled up: before the cache reads
                loaded[s] = self._recover(st, out)
        self.bars.preload(missing)
        now = self.clock_ms()
        for s, st in loaded.items():
            self.states[s] = st
            self._summarize(s, st.gaps)
            if st.revision < self._known.pop(s, 0):
                self._rolled_back(s)
            for g in st.gaps:  # resume what a previous run left open
                if g.exchange_side:
                    continue
                if g.cold:
                    out.cold_starts.append(ColdStart(s, now - self.backfill_ms, g.last + 1))
                else:
                    out.gap_requests.append(GapRequest(s, g.first, g.last, priority=1))

    def _recover(self, st: SymbolState, out: Outcome) -> SymbolState:
        oldest = self.clock_ms() - self.retention_ms + 2 * LAZY_HORIZON_MS
        return recover_rollup(
            self.redis, self.ks, st, self.timeframes, oldest_ms=oldest, counters=out.counters
        )

    def gap_clock_ms(self) -> int:
        """Epoch ms that never step (see ``_gap_clock_base``): gaps' ``opened_ms``."""
        return self._gap_clock_base + round(self.monotonic() * 1000)

    def gap_age_ms(self, opened_ms: int) -> int:
        """How long ago a gap stamped ``opened_ms`` opened (0 for a future stamp)."""
        return max(0, self.gap_clock_ms() - opened_ms)

    def preload(self, symbols: Sequence[str]) -> Outcome:
        out = Outcome()
        self._guard(lambda: self._load(symbols, out))
        self._report_rollbacks(out)
        return out

    def _summarize(self, symbol: str, gaps: Sequence[Gap]) -> None:
        live = [g for g in gaps if not (g.exchange_side or g.cold)]
        if live:
            summary = (sum(g.size for g in live), min(g.opened_ms for g in live), len(live))
            self._gap_summary[symbol] = summary
        else:
            self._gap_summary.pop(symbol, None)

    def forget(self, symbols: Sequence[str]) -> None:
        for s in symbols:
            self._gap_summary.pop(s, None)
            self.states.pop(s, None)
            self.bars.forget(s)
            self.rollups.forget(s)

    # ------------------------------------------------------------------ planning
    def _plan(self, st: SymbolState, items: Sequence[WriterInput], flush: bool) -> Plan:
        cfg, now_ms_, now = self.cfg, self.gap_clock_ms(), self.monotonic()
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
                planner.mark_exchange_side(plan, item.first, item.last)
            elif isinstance(item, ColdStartDone):
                planner.trim_cold(plan, item.first_id)
        planner.release_pending(plan, now_ms=now_ms_, now=now, cfg=cfg, flush=flush)
        plan.newest_id, plan.current_ws, plan.last_trade_time = self._newest(st, plan)
        return plan

    # ------------------------------------------------------------------ applying
    def process(self, inputs: Sequence[WriterInput], flush: bool = False) -> Outcome:
        out = Outcome()
        if self._known:  # after a reset: every symbol we knew, quiet ones too
            self._guard(lambda: self._load(sorted(self._known), out))
        if self._recheck:
            self._guard(lambda: self._recheck_revisions(out))
        by_symbol: dict[str, list[WriterInput]] = defaultdict(list)
        for item in inputs:
            symbol = getattr(item, "symbol", None)
            if symbol is not None:
                by_symbol[symbol].append(item)
        for s, st in self.states.items():
            if st.pending and s not in by_symbol:
                by_symbol[s] = []
        roll = set(self.rollups.due(self.monotonic()) if not flush else self.rollups.symbols())
        for s in roll:
            by_symbol.setdefault(s, [])
        todo = dict(by_symbol)
        quarantined: set[str] = set()
        for _attempt in range(MAX_ATTEMPTS):
            if not todo:
                break
            done: Round = self._guard(partial(self._apply_round, todo, flush, roll, out))
            out.counters["conflicts"] += len(done.conflicts)
            for s, refusal in done.refused.items():
                out.refused[s] = todo[s]
                out.refusal = refusing(refusal, f"the apply of {s}")
            nxt = {s: todo[s] for s in done.conflicts}
            for s, refusal in done.poison.items():
                if s in quarantined:  # even the gap record was refused: give the batch up
                    out.counters["quarantine_failed"] += 1
                    log.error("Redis refused %s's gap record too, dropped: %s", s, refusal.message)
                    continue
                quarantined.add(s)
                nxt[s] = quarantine(s, todo[s], refusal, out.counters)
            todo = nxt
        if self._lost:  # Redis went back in time: the other symbols may have too
            self._recheck = True
        if todo:
            raise RedisUnavailable(f"state of {sorted(todo)[:5]} keeps changing under us")
        self._report_rollbacks(out)
        return out

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except redis.exceptions.ResponseError as exc:
            self._reset()
            raise as_orders_error(classify(exc), "the writer's round") from exc
        except LOST as exc:
            self._reset()  # whatever was half-applied: reload before the next use
            raise RedisUnavailable(f"lost Redis: {exc}") from exc

    def _rolled_back(self, symbol: str) -> None:
        self._lost[symbol] = None

    def _report_rollbacks(self, out: Outcome) -> None:
        out.rolled_back.extend(self._lost)
        out.counters["state_rollbacks"] += len(self._lost)
        self._lost.clear()

    def _recheck_revisions(self, out: Outcome) -> None:
        """Forget (reload at next use) every symbol whose state Redis holds at an older
        revision than ours; the others keep their in-memory state (held trades too)."""
        symbols = list(self.states)
        for s, rev in load_revisions(self.redis, self.ks, symbols).items():
            if rev < self.states[s].revision:
                self._rolled_back(s)
                self.forget([s])
        self._recheck = False

    def _reset(self) -> None:
        """Drop every in-memory state (reloaded before its next use), remembering the
        revision each was committed at: a reload that finds an older one means Redis
        lost acknowledged writes (a restart with ``appendfsync everysec``, a restore of
        an older snapshot). That is reported in ``Outcome.rolled_back`` and re-gapped
        from the reloaded watermark, never treated as corruption."""
        for s, st in self.states.items():
            self._known[s] = max(st.revision, self._known.get(s, 0))
        self.states.clear()
        self._gap_summary.clear()
        self.bars.clear()
        self.rollups.clear()  # the rollup markers in Redis cover what was applied
        self._script_loaded = False

    def _apply_round(
        self, todo: dict[str, list[WriterInput]], flush: bool, roll: set[str], out: Outcome
    ) -> Round:
        self._load(list(todo), out)
        plans: dict[str, Plan] = {}
        for s, items in todo.items():
            plan = self._plan(self.states[s], items, flush)
            out.counters["duplicates"] += plan.duplicates
            if plan.state_changed or (s in roll and self.rollups.pending(s)):
                plans[s] = plan
            else:  # nothing to write (all duplicates, or all held for reordering)
                self.states[s].pending = plan.pending
        done = Round()
        if not plans:
            return done
        new_bars: dict[str, dict[str, dict[int, FixedBar]]] = {}
        after: dict[str, dict[int, FixedBar]] = {}  # base bars not rolled up once applied
        marks: dict[str, tuple[int, ...]] = {}  # ... and the state's marker for them
        for s, p in plans.items():
            new_bars[s], after[s] = self._bars(s, p.applied, s in roll or flush)
            marks[s] = self.rollups.windows(after[s])
        merged, fresh = self.bars.merge(new_bars)
        symbols = list(plans)
        if not self._script_loaded:
            self.redis.script_load(APPLY_LUA)
            self._script_loaded = True
        commands = (  # a generator: Redis applies the first chunks while we build the rest
            (
                self._keys(s)[0],
                (
                    "EVALSHA",
                    APPLY_SHA,
                    SYMBOL_KEY_COUNT,
                    *self._keys(s),
                    *self._args(self.states[s], plans[s], merged.get(s, {}), fresh, marks[s]),
                ),
            )
            for s in symbols
        )
        results = packed.execute_routed(self.redis, commands)
        done_ms = self.clock_ms()
        for s, res in zip(symbols, results, strict=True):
            if isinstance(res, redis.exceptions.ResponseError):
                self.forget([s])  # apply.lua checks before writing: nothing of s was applied
                refusal = classify(res)
                if refusal.noscript:
                    self._script_loaded = False
                    done.conflicts.append(s)
                elif refusal.transient:
                    done.refused[s] = refusal
                else:
                    done.poison[s] = refusal
                continue
            if int(res[0]) != 1:
                if int(res[1]) < self.states[s].revision:
                    self._rolled_back(s)
                self.forget([s])
                done.conflicts.append(s)
                continue
            self._commit(s, plans[s], merged.get(s, {}), int(res[1]), done_ms, out)
            self.rollups.commit(s, after[s], self.monotonic())
            self.states[s].rollup = marks[s]
        return done

    def _bars(
        self, symbol: str, trades: Sequence[Trade], roll: bool
    ) -> tuple[dict[str, dict[int, FixedBar]], dict[int, FixedBar]]:
        """The bars to merge and write for one symbol's applied trades, and the base bars
        left not rolled up afterwards (store/rollup.py)."""
        if not self.timeframes:
            return {}, {}
        if not self.rollups.lazy:
            every = bars_for_batch(trades) if trades else {}
            return {tf: every[tf] for tf in self.timeframes if tf in every}, {}
        return self.rollups.plan(
            symbol,
            trades,
            roll,
            oldest_lazy_ms=self.clock_ms() - LAZY_HORIZON_MS,
            now=self.monotonic(),
        )

    def _keys(self, symbol: str) -> list[str]:
        keys = self._symbol_keys.get(symbol)
        if keys is None:
            keys = self._symbol_keys[symbol] = self.ks.symbol_keys(symbol)
        return keys

    def _args(
        self,
        st: SymbolState,
        plan: Plan,
        bars: dict[str, dict[int, FixedBar]],
        fresh: set[tuple[str, str, int]],
        rollup: tuple[int, ...],
    ) -> list[Arg]:
        newest, cur_ws, ltt = plan.newest_id, plan.current_ws, plan.last_trade_time
        state_fields: dict[str, Arg] = {}
        if plan.gaps_changed or not st.revision:
            state_fields["gaps"] = gapops.encode_gaps(plan.gaps)
        if rollup != st.rollup:  # (most applies stay in the same minute: nothing to write)
            state_fields["rollup"] = encode_marker(rollup)
        if plan.watermark is not None:
            state_fields["watermark"] = plan.watermark
        if newest is not None and cur_ws is not None:
            state_fields["newest_id"] = newest
            state_fields["current_ws"] = cur_ws
        info: dict[str, Arg] = {}
        if ltt is not None and ltt != st.last_trade_time:
            state_fields["last_trade_time"] = ltt
            info["last_trade_time"] = ltt
        cur: tuple[str, ...] = ()
        encoded: dict[str, list[tuple[int, bytes, bool]]] = {}
        symbol = st.symbol
        for tf in TIMEFRAMES:
            rows = encoded[tf] = []
            for ws, b in bars.get(tf, {}).items():
                if tf == FINEST and ws == cur_ws:
                    member, cur = encode_bar_and_current(b)
                else:
                    member = encode_bar(b)
                rows.append((ws, member, (symbol, tf, ws) not in fresh))
        return apply_args(
            expected_revision=plan.base_revision,
            state_fields=state_fields,
            trades=sorted(plan.applied, key=_AGG_ID),
            bars=encoded,
            current_values=cur,
            info_fields=info,
        )

    @staticmethod
    def _newest(st: SymbolState, plan: Plan) -> tuple[int | None, int | None, int | None]:
        newest, cur_ws, ltt = st.newest_id, st.current_ws, st.last_trade_time
        if plan.applied:
            top = max(plan.applied, key=_AGG_ID)
            if newest is None or top.agg_id > newest:
                newest, cur_ws = top.agg_id, window_start(FINEST, top.trade_time)
            t_max = max(map(_TRADE_TIME, plan.applied))
            if ltt is None or t_max > ltt:
                ltt = t_max
        return newest, cur_ws, ltt

    def _commit(
        self,
        s: str,
        plan: Plan,
        bars: dict[str, dict[int, FixedBar]],
        rev: int,
        done: int,
        out: Outcome,
    ) -> None:
        st = self.states[s]
        c = out.counters
        if plan.gaps_changed:
            filled, marked = gapops.closed_and_marked(st.gaps, plan.gaps)
            c["gaps_filled"] += filled
            c["gaps_exchange_side"] += marked
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
        if plan.gaps_changed:
            self._summarize(s, plan.gaps)
        c["bar_corrections"] += self.bars.commit(s, bars)
        c["trades_stored"] += len(plan.applied)
        c["late_trades"] += plan.late
        c["gaps_opened"] += len(plan.opened)
        if plan.opened:
            out.gaps_opened[s] += len(plan.opened)
        out.latencies_ms.extend([float(done - e) for e in plan.live_event_times])
        if plan.live_event_times:
            out.live[s] += len(plan.live_event_times)
        for g in plan.opened:
            out.gap_requests.append(GapRequest(s, g.first, g.last, priority=0))
        if plan.cold_until is not None:
            out.cold_starts.append(ColdStart(s, done - self.backfill_ms, plan.cold_until))

    # ------------------------------------------------------------------ views
    def open_gaps(self) -> tuple[int, int | None]:
        """(ids missing across all known symbols, opened_ms of the oldest open gap; its
        age is :meth:`gap_age_ms`).
        Cold-start ranges are not counted: their size is unknown until the backfill finds
        the first trade inside the retention window."""
        summaries = list(self._gap_summary.values())  # read from the trio thread: copy
        if not summaries:
            return 0, None
        return sum(m for m, _, _ in summaries), min(o for _, o, _ in summaries)

    def most_gaps_per_symbol(self) -> int:
        """The most open gap records any one symbol has (neither exchange-side nor cold)."""
        return max((n for _, _, n in list(self._gap_summary.values())), default=0)

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
                if g.exchange_side or self.gap_age_ms(g.opened_ms) < older_than_ms:
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

    def needs_tick(self) -> bool:
        """Work waits even without new input: trades held for reordering, or bars to roll
        up (the writer then runs at least every ``batch_s``)."""
        return bool(len(self.rollups)) or any(st.pending for st in self.states.values())
