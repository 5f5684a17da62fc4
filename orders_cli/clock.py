"""The wall clock in epoch milliseconds: the one place orders reads it for trade times,
stored timestamps and retention cutoffs (functions take a ``clock_ms`` parameter where a
test injects another)."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
