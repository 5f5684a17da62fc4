"""What the backfill has handed to the writer and the writer has not applied yet.

Backfilled pages (up to 1,000 trades each) share the writer's inbox with live trades.
Without a bound, a cold start of many symbols fills that inbox with pages (50,000 pages
= 50 M trades, 5 GB). The gate bounds them by TRADES: ``admit`` waits (first come,
first served) while ``max_trades`` are held; the writer calls ``release`` with every
batch it applied. A page larger than the bound still goes through when nothing is held,
so nothing can be starved.

The gate also knows which id ranges are in that state: a re-request of them (the writer
asks again for gaps still open) is not fetched a second time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs
import trio

from orders_cli.messages import Backfilled, ColdStartDone, ExchangeHole, WriterInput

Held = Backfilled | ExchangeHole | ColdStartDone

RECENT_RELEASES = 4096
DEFAULT_MAX_TRADES = 20_000
"""About 20 full pages: a few batches of the writer, a few MB."""


@attrs.frozen(slots=True)
class _Held:
    msg: Held
    span: tuple[int, int] | None
    trades: int


class PageGate:
    def __init__(self, max_trades: int = DEFAULT_MAX_TRADES) -> None:
        if max_trades < 1:
            raise ValueError(f"max_trades must be positive: {max_trades}")
        self.max_trades = max_trades
        self._held: dict[int, _Held] = {}  # id(msg): the writer gets the very same object
        self._trades = 0
        self._fifo = trio.Lock()  # trio's Lock is fair: admits in arrival order
        self._released = trio.Event()
        self.epoch = 0  # how many release() calls freed something
        # (epoch, symbol, span) of the last pages released, newest last
        self._recent: deque[tuple[int, str, tuple[int, int]]] = deque(maxlen=RECENT_RELEASES)
        self.peak_trades = 0
        """The most trades held at once (a gauge for tests and the bench)."""

    @property
    def trades(self) -> int:
        """Trades handed to the writer and not applied yet."""
        return self._trades

    @property
    def pages(self) -> int:
        return len(self._held)

    async def admit(self, msg: Held, span: tuple[int, int] | None = None) -> None:
        """Wait until ``msg`` (covering ids ``span``, inclusive) fits, then hold it. The
        caller sends ``msg`` to the writer right after."""
        n = len(msg.trades) if isinstance(msg, Backfilled) else 0
        async with self._fifo:
            while self._trades and self._trades + n > self.max_trades:
                await self._released.wait()
            self._held[id(msg)] = _Held(msg, span, n)
            self._trades += n
            self.peak_trades = max(self.peak_trades, self._trades)

    def release(self, applied: Iterable[WriterInput]) -> None:
        """The writer applied these inputs: free the held ones among them."""
        freed = False
        for item in applied:
            held = self._held.get(id(item))
            if held is not None and held.msg is item:  # held keeps msg alive: ids are unique
                del self._held[id(item)]
                self._trades -= held.trades
                if not freed:
                    self.epoch += 1
                freed = True
                if held.span is not None:
                    self._recent.append((self.epoch, item.symbol, held.span))
        if freed:
            self._released.set()
            self._released = trio.Event()

    def holds(self, msg: Held) -> bool:
        """``msg`` was handed to the writer and is not applied yet."""
        held = self._held.get(id(msg))
        return held is not None and held.msg is msg

    def held_ranges(self, symbol: str, since_epoch: int | None = None) -> list[tuple[int, int]]:
        """Id ranges of ``symbol`` handed to the writer and not applied yet, sorted; with
        ``since_epoch``, also those applied after that release count (a request computed
        before they were applied does not know they are stored now)."""
        spans = [
            h.span for h in self._held.values() if h.span is not None and h.msg.symbol == symbol
        ]
        if since_epoch is not None:
            spans += [span for e, s, span in self._recent if e > since_epoch and s == symbol]
        return sorted(spans)


def subtract(
    first: int, last: int | None, ranges: Iterable[tuple[int, int]]
) -> list[tuple[int, int | None]]:
    """``[first, last]`` (``last`` None = open) without the sorted inclusive ``ranges``."""
    out: list[tuple[int, int | None]] = []
    lo = first
    for a, b in ranges:
        if last is not None and a > last:
            break
        if b < lo:
            continue
        if a > lo:
            out.append((lo, a - 1))
        lo = b + 1
    if last is None or lo <= last:
        out.append((lo, last))
    return out
