"""The timeframe table: the one list of statistics timeframes. Key names
(store/keys.py), the run's default bars (config.py), window sizes (stats/bars.py),
default retention (stats/retention.py), the writer's cache depth (store/bar_cache.py)
and the apply script's key layout (store/lua/apply.lua) all derive from it.

Adding a timeframe is adding a row: in window-size order, each a whole multiple of the
one before (bars are rolled up from the next finer timeframe). The first row is the
finest: it is written with the trades and feeds ``stats:{S}:current``.
"""

from __future__ import annotations

import itertools

import attrs

_DAY_S = 86400.0


@attrs.frozen(slots=True)
class Timeframe:
    name: str
    ms: int
    """Window size in milliseconds; windows are UTC-aligned multiples of it."""
    retention_s: float | None
    """Default bar retention of ``orders prune --bars`` (None = unbounded)."""
    cache_windows: int
    """Windows per symbol the writer keeps in memory: the newest, and for the fine ones
    the one or two before it (trades late by up to a window)."""


TABLE: tuple[Timeframe, ...] = (
    Timeframe("100ms", 100, 3600.0, 3),
    Timeframe("1m", 60_000, 7 * _DAY_S, 2),
    Timeframe("5m", 300_000, 30 * _DAY_S, 2),
    Timeframe("15m", 900_000, 90 * _DAY_S, 2),
    Timeframe("1h", 3_600_000, 365 * _DAY_S, 1),
    Timeframe("4h", 14_400_000, None, 1),
    Timeframe("1d", 86_400_000, None, 1),
)

TIMEFRAMES: tuple[str, ...] = tuple(tf.name for tf in TABLE)
FINEST: str = TIMEFRAMES[0]
TF_MS: dict[str, int] = {tf.name: tf.ms for tf in TABLE}

for _finer, _coarser in itertools.pairwise(TABLE):
    if _coarser.ms % _finer.ms:
        raise RuntimeError(f"timeframe {_coarser.name} is not a multiple of {_finer.name}")
