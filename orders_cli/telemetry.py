"""In-process counters and states that every layer updates and that the terminal panel,
the health publisher (Redis, TTL) and the Prometheus endpoint read.

Single trio thread owns it (the writer thread only touches it through values returned to
trio), so no locks. Plain mutable object on purpose: it is a sink, not a value.
"""

from __future__ import annotations

import time
from collections import Counter, deque
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
