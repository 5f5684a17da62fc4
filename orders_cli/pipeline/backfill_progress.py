"""The cold-start backfill's progress and its ready moment, in ``Telemetry.history``.

A symbol's history is complete when a head check of it was applied by the writer since
its connection went live (or REST had no trade of it at all) and its state holds no gap
but exchange-side holes: the cold start ended and what came before the first live trade
is stored. The run's history is complete when every subscribed symbol's is; that moment
is latched (a later gap is a gap, not a new cold start) and logged once.

Pages left are estimated from the queued cold work (:class:`ColdPages`); the ETA is that
times the page's weight over what the REST budget spends a minute
(``HistoryProgress.eta_s``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable, Mapping

import trio

from orders_cli.pipeline.backfill_queue import LocateWork, RangeWork, Work
from orders_cli.store.planner import SymbolState
from orders_cli.telemetry import Telemetry


def pages_for(work: Work, page_limit: int) -> int:
    """REST pages ``work`` still needs, if it is cold-start work (else 0): a locate or a
    range up to the head is one page as far as we know; a bounded range its ids over the
    page size, rounded up."""
    if isinstance(work, LocateWork):
        return 1
    if not isinstance(work, RangeWork) or not work.cold:
        return 0
    if work.last is None:
        return 1
    return max(1, math.ceil((work.last - work.first + 1) / page_limit))


class ColdPages:
    """Cold-start pages left, estimated per symbol from its queued work (:func:`pages_for`).
    A symbol whose first trade is not located yet counts as many pages as the located
    ones took on average (one before any is located): with 1,500 symbols the ETA is
    minutes from the first answers on, not the 1,500 locate calls alone."""

    def __init__(self, page_limit: int) -> None:
        self.page_limit = page_limit
        self._left: dict[str, int] = {}
        self._unlocated: set[str] = set()
        self._located = 0  # symbols located this run
        self._located_pages = 0  # their locate page plus the pages left when located

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._left or symbol in self._unlocated

    def update(self, symbol: str, queued: Iterable[Work]) -> None:
        """``symbol``'s queued work changed (``queued``: all of it)."""
        items = list(queued)
        left = sum(pages_for(w, self.page_limit) for w in items)
        if any(isinstance(w, LocateWork) for w in items):
            self._unlocated.add(symbol)
        elif symbol in self._unlocated:  # its locate call answered
            self._unlocated.discard(symbol)
            self._located += 1
            self._located_pages += 1 + left
        if left:
            self._left[symbol] = left
        else:
            self._left.pop(symbol, None)

    def total(self) -> int:
        known = sum(n for s, n in self._left.items() if s not in self._unlocated)
        each = self._located_pages / self._located if self._located else 1.0
        return known + math.ceil(len(self._unlocated) * each)


def symbol_done(state: SymbolState | None, head_seen: bool, head_empty: bool) -> bool:
    """See the module doc: checked since live, and nothing missing."""
    if state is None or state.watermark is None:
        return head_empty
    if not (head_seen or head_empty):
        return False
    return all(g.exchange_side for g in state.gaps)


PACE_WINDOW_S = 30.0
PACE_MIN_S = 5.0


class HistoryWatch:
    """Updates ``telemetry.history`` from the writer's states and the backfill's work."""

    def __init__(self, telemetry: Telemetry, *, page_weight: int, weight_per_minute: float):
        self.telemetry = telemetry
        self.history = telemetry.history
        self.history.page_weight = page_weight
        self.history.weight_per_minute = weight_per_minute
        self._started = trio.current_time()
        self._fetched: deque[tuple[float, int]] = deque()  # (trio time, cold pages fetched)

    def _pace(self) -> None:
        """Cold pages a second over the last :data:`PACE_WINDOW_S` (at least
        :data:`PACE_MIN_S` of it seen)."""
        now, fetched = trio.current_time(), self.telemetry.counters["backfill_cold_pages"]
        samples = self._fetched
        samples.append((now, fetched))
        while len(samples) > 2 and now - samples[1][0] >= PACE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        if now - then >= PACE_MIN_S:
            self.history.pages_per_s = (fetched - before) / (now - then)

    def update(
        self,
        symbols: Collection[str],
        states: Mapping[str, SymbolState],
        heads_seen: Collection[str],
        heads_empty: Collection[str],
    ) -> bool:
        """Returns True once: at the moment the history became complete (``pages_left``
        is the backfill's own figure)."""
        h = self.history
        if h.complete:
            return False
        self._pace()
        h.symbols_total = len(symbols)
        h.symbols_done = sum(
            symbol_done(states.get(s), s in heads_seen, s in heads_empty) for s in symbols
        )
        if h.symbols_done < h.symbols_total or h.pages_left:
            return False
        h.complete_after_s = round(trio.current_time() - self._started, 3)
        return True
