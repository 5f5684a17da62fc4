"""A shard's side of the writer channel: the reader never blocks on it.

Under overload a symbol is dropped in *episodes*, one id range each, not trade by trade
(one trade dropped alone would be a gap record, a REST call and late bar corrections of
its own, and an overloaded second would make hundreds of them per symbol):

* An episode of a symbol begins when one of its trades finds the channel full (it has
  to be dropped).
* From then on every trade of that symbol is dropped, even when there is room, until
  the channel has drained to :data:`LOW_MARK` of its size AND :data:`HOLD_S` have passed
  since the episode began. The episode ends with ONE ``Dropped(symbol, max_id, count)``,
  sent (without waiting: below the low mark there is room) before the symbol's next
  trade, so the writer records ``[watermark+1, max_id]`` as one gap and the next trade
  follows it contiguously. An episode whose symbol stops trading is ended by
  :meth:`OutPort.report_drops`, so a dropped tail is recorded too.

The fill (``statistics()``) is read only while some symbol of this shard is dropping.

HOLD_S = 20 s comes from the issue's bound, "at most 4 open gaps per symbol at 2x
capacity for 60 s": a symbol's episodes begin at least 20 s apart, so a 60 s overload
gives it at most 3 episodes plus one straddling the window's end, 4 gaps even if REST
closes none meanwhile. And from the REST budget: spot allows 6,000 weight/min, the
client uses 80 % (4,800), an ``aggTrades`` page of 1,000 ids weighs 4, so 1,200 pages/min
= 20 pages/s. Refilling what 60 s at 2x capacity K trades/s dropped (60 K ids) needs
60 K / 1,000 pages plus at most one partial page per episode: with E episodes in all,
(60 K / 1,000 + E) / 20 seconds. With K = 10 k/s and 1,000 symbols: E <= 4,000 (every
symbol in all four windows), (600 + 4,000) / 20 = 230 s at worst; one episode per
symbol (E = 1,000, what a 30 s bench run at 20 k/s showed) needs 80 s. A shorter hold
multiplies E (each symbol may drop once per hold); a longer one only keeps dropping
trades that the writer would have had room for.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from orders_cli.config import OVERLOAD_HOLD_S
from orders_cli.messages import Dropped, WriterInput
from orders_cli.models import Trade
from orders_cli.telemetry import Telemetry

HOLD_S = OVERLOAD_HOLD_S
LOW_MARK = 0.5
END_POLL_S = 0.25
"""How often :meth:`OutPort.report_drops` looks for episodes due to end (only while
some symbol of the shard is dropping)."""


class OutputClosed(RuntimeError):
    """The writer's channel is gone: a shutdown or a writer crash, never a reconnect."""


@attrs.define(slots=True)
class _Episode:
    began: float  # trio time
    max_id: int
    count: int = 1


class OutPort:
    def __init__(
        self,
        name: str,
        out: trio.MemorySendChannel[WriterInput],
        telemetry: Telemetry,
        *,
        hold_s: float = HOLD_S,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.name = name
        self.out = out
        self.telemetry = telemetry
        self.hold_s = hold_s
        self.clock = clock
        size = out.statistics().max_buffer_size
        self._low = size * LOW_MARK  # (an unbounded channel never fills: no episode)
        self._episodes: dict[str, _Episode] = {}
        self._dropping = trio.Event()
        self.episodes = 0
        """Episodes begun (each ends as one ``Dropped``)."""

    def _fill(self) -> int:
        return self.out.statistics().current_buffer_used

    def deliver(self, trade: Trade) -> bool:
        """Hand ``trade`` to the writer now (True), or drop it (False, counted as
        ``dropped_overload``) as part of its symbol's episode. Never blocks. The caller
        counts the delivered ones as ``trades_received``: the shard does it once per
        batch of frames, not per trade."""
        if self._episodes:
            ep = self._episodes.get(trade.symbol)
            if ep is not None and not self._end(trade.symbol, ep, self._fill()):
                ep.count += 1
                if trade.agg_id > ep.max_id:
                    ep.max_id = trade.agg_id
                self.telemetry.count("dropped_overload")
                return False
        try:
            self.out.send_nowait(trade)
        except trio.WouldBlock:
            self._begin(trade)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise OutputClosed(f"shard {self.name}: writer channel closed") from exc
        return True

    def _begin(self, trade: Trade) -> None:
        self.telemetry.count("dropped_overload")
        self.telemetry.count("overload_episodes")
        self.telemetry.count_labelled("overload_episodes", trade.symbol)
        self.episodes += 1
        self._episodes[trade.symbol] = _Episode(self.clock(), trade.agg_id)
        self._dropping.set()

    def _end(self, symbol: str, ep: _Episode, fill: int) -> bool:
        """End ``symbol``'s episode if it is due: report it as one ``Dropped`` now."""
        if fill > self._low or self.clock() - ep.began < self.hold_s:
            return False
        try:
            self.out.send_nowait(Dropped(symbol, ep.max_id, ep.count))
        except trio.WouldBlock:  # not below the low mark after all: next time
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise OutputClosed(f"shard {self.name}: writer channel closed") from exc
        del self._episodes[symbol]
        return True

    def dropping(self) -> list[str]:
        """Symbols in an episode now."""
        return list(self._episodes)

    async def emit(self, item: WriterInput) -> None:
        """Send a control item, waiting for room (never called by the reader)."""
        try:
            await self.out.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise OutputClosed(f"shard {self.name}: writer channel closed") from exc

    async def report_drops(self) -> None:
        """Forever: end the episodes that are due even when their symbol trades no more
        (a dropped tail), every :data:`END_POLL_S` while any is open."""
        while True:
            await self._dropping.wait()
            while self._episodes:
                await trio.sleep(END_POLL_S)
                fill = self._fill()
                for symbol, ep in list(self._episodes.items()):
                    self._end(symbol, ep, fill)
            self._dropping = trio.Event()
