"""Garbage-collector settings for the long-running ingester.

CPython's default (a young collection every 700 net allocations, a full one every ~100
young ones once the heap grew by a quarter) is made for short scripts. The ingester
allocates a few objects per trade (20k trades/s: a young collection every few ms) and
keeps a large, stable heap (per-symbol state, bar caches) that every full collection
walks again; our hot objects are freed by reference counting, not by the collector.
So: objects alive at start (modules, configuration) are frozen out of every collection,
young collections are ~70x rarer, and cycles are still collected (trio's cancelled tasks,
tracebacks). Measured in bench/RESULTS.md (writer alone: ~10 % more trades/s).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG = 50_000  # net allocations between young collections (CPython default 700)


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """Apply the settings for the duration of the block and restore them after (the
    test suite runs the ingester in-process many times)."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
