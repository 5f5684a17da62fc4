"""The wall clock in epoch milliseconds: the one place orders reads it for trade times,
stored timestamps and retention cutoffs (functions take a ``clock_ms`` parameter where a
test injects another)."""

from __future__ import annotations

import datetime as dt
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_text(ms: int) -> str:
    """An epoch-ms time as people read it: ``2025-10-09 08:53:20.000`` (UTC)."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def utc_and_ms(ms: int) -> str:
    """The one way text for people shows an epoch-ms time: readable, with the number
    beside it for machines and grep: ``2025-10-09 08:53:20.000 UTC (1760000000000)``."""
    return f"{utc_text(ms)} UTC ({ms})"
