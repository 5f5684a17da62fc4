"""How long each bar timeframe is kept (``stats:{S}:<tf>`` ZSETs), and the option parser.

Defaults: 100ms 1 h, 1m 7 d, 5m 30 d, 15m 90 d, 1h 1 y (365 d), 4h and 1d unbounded.

Memory, measured by ``bench/bars_memory.py`` (redis-server 7.0.15, 20,000 realistic bars
per key): a member is ~507 B of JSON (8 dp prices, ~36-digit quote volumes, 10-digit ids),
over the 64 B listpack limit, so the ZSET is a skiplist: **~720 B of used_memory per bar**
(MEMORY USAGE says ~711). Worst case (every window of every symbol had a trade) at 1,500
symbols:

| tf | default retention | bars/symbol | 1,500 symbols |
|---|---|---|---|
| 100ms | 1 h | 36,000 | 38.9 GB |
| 1m | 7 d | 10,080 | 10.9 GB |
| 5m | 30 d | 8,640 | 9.3 GB |
| 15m | 90 d | 8,640 | 9.3 GB |
| 1h | 1 y | 8,760 | 9.5 GB |
| 4h | unbounded | 2,190 / year | 2.4 GB / year |
| 1d | unbounded | 365 / year | 0.4 GB / year |

Real use scales with the windows that actually had trades: most spot pairs trade a few
times a minute, so the 100ms level is typically a few % of its worst case; BTCUSDT-like
pairs fill a large share of their 100 ms windows.
"""

from __future__ import annotations

from orders_cli.durations import parse_duration
from orders_cli.errors import UsageError
from orders_cli.timeframes import TABLE, TIMEFRAMES

DEFAULT_BAR_RETENTION_S: dict[str, float | None] = {tf.name: tf.retention_s for tf in TABLE}

_UNBOUNDED = frozenset({"none", "unbounded", "forever", "inf", "off"})


def parse_retention(spec: str) -> dict[str, float | None]:
    """``"100ms=1h,1m=7d,4h=none"`` -> the full mapping (defaults, overridden by ``spec``).

    Values are durations (``orders_cli.durations``: ``1h``, ``7d``, ``52w``) or
    ``none``/``unbounded`` for keep-forever. Bad input raises :class:`UsageError`.
    """
    out = dict(DEFAULT_BAR_RETENTION_S)
    seen: set[str] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        tf, sep, value = part.partition("=")
        tf, value = tf.strip(), value.strip()
        if not sep or not value:
            raise UsageError(f"invalid retention {part!r}: expected TF=DURATION, e.g. 1m=7d")
        if tf not in TIMEFRAMES:
            raise UsageError(
                f"invalid retention {part!r}: unknown timeframe {tf!r} "
                f"(one of {', '.join(TIMEFRAMES)})"
            )
        if tf in seen:
            raise UsageError(f"invalid retention {spec!r}: timeframe {tf} given twice")
        seen.add(tf)
        if value.lower() in _UNBOUNDED:
            out[tf] = None
            continue
        seconds = parse_duration(value)
        if seconds <= 0:
            raise UsageError(f"invalid retention {part!r}: must be > 0 (or 'none')")
        out[tf] = seconds
    return out
