"""What retention keeps (:class:`RetentionPolicy`) and what one prune pass did
(:class:`PruneReport`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from orders_cli.clock import utc_and_ms

DAY_S = 86400.0
STREAM_S = 3600.0
"""The stream's own retention by default: it is the fan-out log ``tail`` follows, not the
store ``verify`` checks (that is the ZSET, kept ``trades_s``)."""
CLOCK_AHEAD_LIMIT_MS = 5 * 60_000
"""A wall clock further than this ahead of the newest stored trade is warned about (the
cut is at the newest trade time then, see :func:`retention_now`)."""


def retention_now(wall_ms: int, newest_trade_ms: int | None) -> tuple[int, str | None]:
    """The "now" retention cuts from: ``min(wall clock, newest stored trade time)``, so a
    clock that steps forward never deletes what is within retention of the data itself;
    and a warning when the wall clock is more than ``CLOCK_AHEAD_LIMIT_MS`` ahead."""
    if newest_trade_ms is None or newest_trade_ms >= wall_ms:
        return wall_ms, None
    ahead = wall_ms - newest_trade_ms
    if ahead <= CLOCK_AHEAD_LIMIT_MS:
        return newest_trade_ms, None
    return newest_trade_ms, (
        f"the wall clock is {ahead / 1000:.0f}s ahead of the newest stored trade "
        f"({utc_and_ms(newest_trade_ms)}): retention cut from the newest trade time instead; "
        "check the host clock (or the market has been quiet that long)"
    )


def default_bar_retention() -> dict[str, float | None]:
    """The stats helper's defaults (imported lazily: ``None`` = keep forever)."""
    from orders_cli.stats.retention import DEFAULT_BAR_RETENTION_S

    return dict(DEFAULT_BAR_RETENTION_S)


def _bars(value: Mapping[str, float | None] | None) -> dict[str, float | None]:
    return default_bar_retention() if value is None else dict(value)


@attrs.frozen(slots=True)
class RetentionPolicy:
    """Seconds to keep, per kind of data. ``bars_s[tf] = None`` keeps that timeframe forever.
    The stream keeps ``stream_s``, never more than the ZSET's ``trades_s``.

    ``chunk`` bounds every delete command (Redis never blocks for more than a few ms).
    """

    trades_s: float = DAY_S
    stream_s: float = STREAM_S
    bars_s: dict[str, float | None] = attrs.field(default=None, converter=_bars)
    malformed_s: float = DAY_S
    exchange_gaps_s: float = DAY_S
    chunk: int = 500
    lock_ttl_ms: int = 60_000

    def cutoff_ms(self, now_ms: int, keep_s: float) -> int:
        return now_ms - round(keep_s * 1000)

    def stream_cutoff_ms(self, now_ms: int) -> int:
        return self.cutoff_ms(now_ms, min(self.stream_s, self.trades_s))


@attrs.define
class SymbolPrune:
    """Counts for one symbol (would-be counts in a dry run)."""

    symbol: str
    trades: int = 0
    stream: int = 0
    bars: dict[str, int] = attrs.field(factory=dict)
    gaps: int = 0
    archived: list[str] = attrs.field(factory=list)
    error: str | None = None

    @property
    def total(self) -> int:
        return self.trades + self.stream + sum(self.bars.values()) + self.gaps


@attrs.define
class PruneReport:
    """What one pass removed (or would remove, ``dry_run``) and what failed."""

    now_ms: int
    dry_run: bool
    symbols: list[SymbolPrune] = attrs.field(factory=list)
    malformed: int = 0
    errors: list[str] = attrs.field(factory=list)
    cut_ms: int | None = None
    """The "now" every retention cut was measured from (:func:`retention_now`)."""
    newest_trade_ms: int | None = None
    warnings: list[str] = attrs.field(factory=list)
    """Not failures, but the pass did less than asked (exit 1, "partial")."""
    notes: list[str] = attrs.field(factory=list)  # said to the user; not failures

    @property
    def ok(self) -> bool:
        return not self.errors and not self.warnings and all(s.error is None for s in self.symbols)

    @property
    def totals(self) -> dict[str, int]:
        bars = sum(sum(s.bars.values()) for s in self.symbols)
        return {
            "symbols": len(self.symbols),
            "trades": sum(s.trades for s in self.symbols),
            "stream": sum(s.stream for s in self.symbols),
            "bars": bars,
            "gaps": sum(s.gaps for s in self.symbols),
            "malformed": self.malformed,
            "archive_files": sum(len(s.archived) for s in self.symbols),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "now_ms": self.now_ms,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "totals": self.totals,
            "symbols": [attrs.asdict(s) for s in self.symbols if s.total or s.error or s.archived],
            "errors": self.errors,
            "cut_ms": self.cut_ms,
            "newest_trade_ms": self.newest_trade_ms,
            "warnings": self.warnings,
            "notes": self.notes,
        }
