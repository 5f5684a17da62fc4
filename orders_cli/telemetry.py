"""In-process counters and states that every layer updates and that the terminal panel,
the health publisher (Redis, TTL) and the Prometheus endpoint read.

Single trio thread owns it (the writer thread only touches it through values returned to
trio), so no locks. Plain mutable object on purpose: it is a sink, not a value.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import attrs

ConnState = Literal["connecting", "subscribing", "live", "backoff", "stalled", "silent", "closed"]
CONN_STATES: tuple[ConnState, ...] = get_args(ConnState)

# distinct labels per counter family ("ignored:<reason>"): a label taken from server text
# must not grow the counters (and the Prometheus series) without bound
LABELS_PER_FAMILY = 32
OTHER_LABEL = "other"

CLOCK_OFFSET_LIMIT_MS = 5_000
"""A connection whose event times are further than this from the host clock is warned
about (pipeline/clockwatch.py), never rejected."""


@attrs.define
class ConnectionState:
    shard: str  # e.g. "spot#0"
    state: ConnState = "connecting"
    streams: int = 0
    since_monotonic: float = attrs.field(factory=time.monotonic)
    messages: int = 0
    reconnects: int = 0
    last_message_monotonic: float | None = None
    last_error: str | None = None
    clock_offset_ms: int | None = None  # host clock minus the event times (pipeline/clockwatch)
    # a silent endpoint (pipeline/endpoint_watch.py): why, until the connection delivers a
    # trade again; and how many times it was declared
    silent_alarm: str | None = None
    silent_alarms: int = 0

    def set(self, state: ConnState, error: str | None = None) -> None:
        if state != self.state:
            self.state = state
            self.since_monotonic = time.monotonic()
        if error is not None:
            self.last_error = error


@attrs.define
class HistoryProgress:
    """The cold-start backfill of this run (pipeline/backfill_progress.py): symbols whose
    history is in the store of the symbols subscribed, REST pages left (an estimate:
    ids left over the page size, one page for a symbol whose first trade is not located
    yet) and the moment it was complete: from then on ``verify`` and ``tail --since``
    see every trade of the window."""

    symbols_total: int = 0
    symbols_done: int = 0
    pages_left: int = 0
    page_weight: int = 0  # REST weight of one aggTrades page
    weight_per_minute: float = 0.0  # what the REST budget spends a minute (limit x fraction)
    pages_per_s: float | None = None  # cold pages fetched a second lately (None: not known)
    complete_after_s: float | None = None  # from the start of the run; None: not yet

    @property
    def complete(self) -> bool:
        return self.complete_after_s is not None

    @staticmethod
    def took(seconds: float) -> float:
        """How long the history took, as the panel, status and the log say it: whole
        seconds, at least one."""
        return float(max(1, round(seconds)))

    def eta_s(self) -> float | None:
        """Seconds the pages left take: at the REST budget's pace (pages x weight over the
        weight a minute), or at the pace of late when that is slower (the writer, not
        REST, may be the bound). None: neither is known."""
        if self.complete or not self.pages_left:
            return 0.0
        etas = []
        if self.weight_per_minute > 0:
            etas.append(self.pages_left * self.page_weight * 60 / self.weight_per_minute)
        if self.pages_per_s:
            etas.append(self.pages_left / self.pages_per_s)
        return max(etas, default=None)


@attrs.define
class MergedHistory(HistoryProgress):
    """Several markets' cold-start backfills as one (telemetry.merged): symbols and pages
    summed; they run side by side, so the ETA is the longest of theirs and the history is
    complete when the last one is."""

    parts: tuple[HistoryProgress, ...] = ()

    @classmethod
    def of(cls, parts: Sequence[HistoryProgress]) -> MergedHistory:
        after = [p.complete_after_s for p in parts]
        return cls(
            symbols_total=sum(p.symbols_total for p in parts),
            symbols_done=sum(p.symbols_done for p in parts),
            pages_left=sum(p.pages_left for p in parts),
            complete_after_s=None if None in after else max(a or 0.0 for a in after),
            parts=tuple(parts),
        )

    def eta_s(self) -> float | None:
        etas = [p.eta_s() for p in self.parts]
        return None if None in etas else max((e or 0.0 for e in etas), default=0.0)


@attrs.define
class Telemetry:
    started_monotonic: float = attrs.field(factory=time.monotonic)
    connections: dict[str, ConnectionState] = attrs.field(factory=dict)
    # monotonic counters, by name: trades_received, trades_stored, duplicates, malformed,
    # ignored, dropped_overload, gaps_opened, gaps_filled, gaps_exchange_side,
    # rest_calls, rest_429, rest_418, late_trades, bar_corrections, ...
    counters: Counter[str] = attrs.field(factory=Counter)
    # E -> visible-in-Redis latency samples in ms (bounded reservoir of the newest)
    latency_ms: deque[float] = attrs.field(factory=lambda: deque(maxlen=4096))
    redis_state: str = "unknown"  # ok | retrying (connection lost) | refusing (error replies)
    redis_refusal: str | None = None  # while refusing: the code (OOM, READONLY, MISCONF...)
    redis_used_memory: int | None = None
    redis_maxmemory: int | None = None
    redis_eviction_policy: str | None = None
    redis_memory_rate: float | None = None  # bytes/s used_memory grows (smoothed)
    redis_primary: str | None = None  # redis+sentinel://: "MASTER at HOST:PORT" written to now
    symbols_subscribed: int = 0
    symbols_listed: int = 0
    open_gaps: int = 0
    most_gaps_per_symbol: int = 0  # open gap records of the symbol with the most
    oldest_open_gap_ms: int | None = None
    oldest_open_gap_mono: float | None = None  # time.monotonic() when it opened: its age
    backfill_queue: int = 0
    channel_depth: int = 0
    # symbols quiet far longer than usual for them (Processor.silent_symbols): the one
    # list the panel counts and the health record (`orders status`) names
    silent_symbols: list[str] = attrs.field(factory=list)
    example_symbol: str | None = None  # a listed symbol, for the panel's `orders tail` hint
    history: HistoryProgress = attrs.field(factory=HistoryProgress)
    _labels: Counter[str] = attrs.field(factory=Counter)

    def connection(self, shard: str) -> ConnectionState:
        state = self.connections.get(shard)
        if state is None:
            state = self.connections[shard] = ConnectionState(shard=shard)
        return state

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def count_labelled(self, family: str, label: str, n: int = 1) -> None:
        """``family:label`` += n, with at most :data:`LABELS_PER_FAMILY` distinct labels;
        later ones are counted as ``family:other``."""
        name = f"{family}:{label}"
        if name not in self.counters:
            if self._labels[family] >= LABELS_PER_FAMILY:
                name = f"{family}:{OTHER_LABEL}"
            else:
                self._labels[family] += 1
        self.counters[name] += n

    def latency_percentile(self, q: float) -> float | None:
        if not self.latency_ms:
            return None
        data = sorted(self.latency_ms)
        idx = min(len(data) - 1, max(0, round(q * (len(data) - 1))))
        return data[idx]


# Redis as the worst of several parts sees it (merged): a refusal over a retry over a
# state not confirmed yet over ok
_REDIS_RANK = {"ok": 0, "unknown": 1, "retrying": 2, "refusing": 3}


def merged(markets: Mapping[str, Telemetry]) -> Telemetry:
    """One view of several markets' telemetry (one ``orders run`` of several markets), by
    market name: counters and counts summed, connections side by side (their shard names
    carry the market), latency samples pooled, the oldest open gap, the most gaps of one
    symbol, silent symbols named with their market (``usdm:BTCUSDT``), the backfills side
    by side (:class:`MergedHistory`), Redis as the worst part sees it. One market's
    telemetry is returned as it is."""
    if len(markets) == 1:
        return next(iter(markets.values()))
    parts = list(markets.values())
    out = Telemetry(
        started_monotonic=min(p.started_monotonic for p in parts),
        latency_ms=deque(maxlen=4096 * max(1, len(parts))),
        history=MergedHistory.of([p.history for p in parts]),
        example_symbol=parts[0].example_symbol,  # the first market's: the footer's tail hint
    )
    for name, p in markets.items():
        out.connections.update(p.connections)
        out.counters.update(p.counters)
        out.latency_ms.extend(p.latency_ms)
        out.symbols_subscribed += p.symbols_subscribed
        out.symbols_listed += p.symbols_listed
        out.open_gaps += p.open_gaps
        out.most_gaps_per_symbol = max(out.most_gaps_per_symbol, p.most_gaps_per_symbol)
        out.backfill_queue += p.backfill_queue
        out.channel_depth += p.channel_depth
        out.silent_symbols += [f"{name}:{s}" for s in p.silent_symbols]
        if p.oldest_open_gap_ms is not None and (
            out.oldest_open_gap_ms is None or p.oldest_open_gap_ms < out.oldest_open_gap_ms
        ):
            out.oldest_open_gap_ms = p.oldest_open_gap_ms
            out.oldest_open_gap_mono = p.oldest_open_gap_mono
    worst = max(parts, key=lambda p: _REDIS_RANK.get(p.redis_state, 1))
    out.redis_state, out.redis_refusal = worst.redis_state, worst.redis_refusal
    facts = next((p for p in parts if p.redis_used_memory is not None), parts[0])
    out.redis_used_memory, out.redis_maxmemory = facts.redis_used_memory, facts.redis_maxmemory
    out.redis_eviction_policy = facts.redis_eviction_policy
    out.redis_memory_rate = facts.redis_memory_rate
    out.redis_primary = next((p.redis_primary for p in parts if p.redis_primary), None)
    return out
