"""Coarse bars rolled up lazily from the finest timeframe, and their crash recovery.

Every apply writes the trades and the bars of the finest enabled timeframe (the *base*,
``100ms`` by default, which also feeds ``stats:{S}:current``). The coarser bars (``1m`` …
``1d``) of a hot symbol would otherwise be re-encoded and rewritten on every batch; instead
the writer keeps the base-bar *deltas* it applied and rolls them up into the coarser
timeframes at most every ``interval_s`` per symbol (and at once for old windows, on a flush
and on shutdown). The result is the same bars, written less often.

Crash safety: each apply records, in the symbol's state hash and in the same atomic script,
the windows of the first coarse timeframe that hold deltas not yet rolled up (``rollup``).
Whoever loads the state next (a restart, a reload after a conflict or a lost connection)
recomputes those windows before writing anything: the first coarse level from the stored
trades (which are exact and complete for the window), every coarser level from the bars one
level finer. So a window is either rolled up by the writer that has its deltas in memory or
recomputed from what Redis holds; never lost, never counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orders_cli.models import Trade
from orders_cli.redis_types import RedisClient
from orders_cli.stats.codec import decode_fixed
from orders_cli.stats.fixed import FixedBar, bars_at, bars_for_batch, merge_bars, roll_up
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member
from orders_cli.timeframes import TF_MS

MAX_PENDING_WINDOWS = 256
"""A symbol whose deltas span more base windows than this is rolled up at once."""


def encode_marker(windows: Iterable[int]) -> str:
    """The ``rollup`` state field: sorted window starts, comma-separated ("" = none)."""
    return ",".join(str(w) for w in sorted(set(windows)))


def decode_marker(raw: bytes | str | None) -> tuple[int, ...]:
    if not raw:
        return ()
    text = raw.decode() if isinstance(raw, bytes) else raw
    return tuple(int(w) for w in text.split(","))


class Rollups:
    """Per symbol, the base-bar deltas applied to Redis and not yet rolled up (memory)."""

    def __init__(self, chain: Sequence[str], interval_s: float) -> None:
        self.chain = tuple(chain)  # enabled timeframes, finest first
        self.interval_s = interval_s
        self._pending: dict[str, dict[int, FixedBar]] = {}
        self._since: dict[str, float] = {}
        self._rolled: dict[str, float] = {}  # when each symbol was last rolled up

    @property
    def lazy(self) -> bool:
        return len(self.chain) > 1 and self.interval_s > 0

    @property
    def first_coarse(self) -> str | None:
        return self.chain[1] if len(self.chain) > 1 else None

    def pending(self, symbol: str) -> dict[int, FixedBar]:
        return self._pending.get(symbol, {})

    def due(self, now: float) -> list[str]:
        return [s for s, t in self._since.items() if now - t >= self.interval_s]

    def symbols(self) -> list[str]:
        return list(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def windows(self, pending: dict[int, FixedBar]) -> tuple[int, ...]:
        """The first-coarse windows holding ``pending`` base bars (the state's marker)."""
        tf = self.first_coarse
        if tf is None or not pending:
            return ()
        size = TF_MS[tf]
        return tuple(sorted({ws - ws % size for ws in pending}))

    def plan(
        self,
        symbol: str,
        trades: Sequence[Trade],
        roll: bool,
        *,
        oldest_lazy_ms: int,
        now: float,
    ) -> tuple[dict[str, dict[int, FixedBar]], dict[int, FixedBar]]:
        """Lazy mode: the bars to write for ``symbol``'s applied ``trades`` and the base
        bars left pending afterwards. Only the base timeframe and the deltas kept; every
        timeframe, rolled up from the deltas and these trades, when ``roll`` (due, flush),
        when the symbol was last rolled up ``interval_s`` or more before ``now`` (so a
        quiet symbol's trade is rolled up in its own apply, not in a later call of its
        own), when too many windows are pending, or when a window is older than
        ``oldest_lazy_ms``."""
        base_tf = self.chain[0]
        base = bars_at(trades, base_tf) if trades else {}
        kept = self.pending(symbol)
        pending = merge_bars(dict(kept), base)  # a copy: kept changes only on commit
        last = self._rolled.get(symbol)
        if (
            roll
            or last is None
            or now - last >= self.interval_s
            or len(pending) > MAX_PENDING_WINDOWS
            or any(ws < oldest_lazy_ms for ws in base)
        ):
            return {base_tf: base, **self.roll(pending)}, {}
        return {base_tf: base}, pending

    def roll(self, pending: dict[int, FixedBar]) -> dict[str, dict[int, FixedBar]]:
        """Deltas of every coarse timeframe from base-bar deltas."""
        out: dict[str, dict[int, FixedBar]] = {}
        prev = pending
        for tf in self.chain[1:]:
            prev = roll_up(prev, tf)
            out[tf] = prev
        return out

    def commit(self, symbol: str, pending: dict[int, FixedBar], now: float) -> None:
        """Remember what Redis now holds as not rolled up (``{}`` = all rolled up)."""
        if not pending:
            self._pending.pop(symbol, None)
            self._since.pop(symbol, None)
            self._rolled[symbol] = now
            return
        self._pending[symbol] = pending
        self._since.setdefault(symbol, now)

    def forget(self, symbol: str) -> None:
        self._pending.pop(symbol, None)
        self._since.pop(symbol, None)
        self._rolled.pop(symbol, None)

    def clear(self) -> None:
        self._pending.clear()
        self._since.clear()
        self._rolled.clear()


def recompute(
    redis: RedisClient, ks: Keyspace, symbol: str, chain: Sequence[str], windows: Sequence[int]
) -> dict[str, dict[int, FixedBar]]:
    """Bars of every coarse timeframe of ``chain`` whose window holds one of ``windows``
    (window starts of ``chain[1]``), recomputed from Redis: ``chain[1]`` from the stored
    trades, each coarser one from the bars one level finer (the recomputed ones included).
    A window whose trades are all gone (pruned) is left out."""
    if len(chain) < 2 or not windows:
        return {}
    tf1 = chain[1]
    size1 = TF_MS[tf1]
    pipe = redis.pipeline(transaction=False)
    for w in windows:
        pipe.zrangebyscore(ks.trades_latest(symbol), w, w + size1 - 1)
    level: dict[int, FixedBar] = {}
    for w, members in zip(windows, pipe.execute(), strict=True):
        trades = [decode_member(m) for m in members]
        if trades:
            level[w] = bars_for_batch(trades)[tf1][w]
    out: dict[str, dict[int, FixedBar]] = {tf1: level}
    finer = tf1
    for tf in chain[2:]:
        size = TF_MS[tf]
        targets = sorted({w - w % size for w in level})
        pipe = redis.pipeline(transaction=False)
        for w in targets:
            pipe.zrangebyscore(ks.bars(symbol, finer), w, w + size - 1)
        children: dict[int, dict[int, FixedBar]] = {w: {} for w in targets}
        for w, members in zip(targets, pipe.execute(), strict=True):
            for m in members:
                bar = decode_fixed(m)
                children[w][bar.window_start] = bar
        for ws, bar in level.items():  # the recomputed finer bars replace stored ones
            children[ws - ws % size][ws] = bar
        level = {}
        for w, kids in children.items():
            rolled = roll_up(kids, tf)
            if w in rolled:
                level[w] = rolled[w]
        out[tf] = level
        finer = tf
    return out
