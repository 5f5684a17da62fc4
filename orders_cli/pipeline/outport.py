"""A shard's side of the writer channel: the reader never blocks on it.

A trade that finds the channel full is dropped and counted; the highest dropped id per
symbol is reported as ``Dropped`` as soon as there is room, so the writer records a gap
(filled by backfill) even for a dropped tail.
"""

from __future__ import annotations

import trio

from orders_cli.messages import Dropped, WriterInput
from orders_cli.models import Trade
from orders_cli.telemetry import Telemetry


class OutputClosed(RuntimeError):
    """The writer's channel is gone: a shutdown or a writer crash, never a reconnect."""


class OutPort:
    def __init__(
        self, name: str, out: trio.MemorySendChannel[WriterInput], telemetry: Telemetry
    ) -> None:
        self.name = name
        self.out = out
        self.telemetry = telemetry
        # symbol -> [max dropped agg id, count] not yet reported
        self._drops: dict[str, list[int]] = {}
        self._pending = trio.Event()

    def deliver(self, trade: Trade) -> bool:
        """Hand ``trade`` to the writer now (True), or drop and remember it (False, counted
        as ``dropped_overload``). Never blocks. The caller counts the delivered ones as
        ``trades_received``: the shard does it once per batch of frames, not per trade."""
        try:
            self.out.send_nowait(trade)
        except trio.WouldBlock:
            self.telemetry.count("dropped_overload")
            entry = self._drops.get(trade.symbol)
            if entry is None:
                self._drops[trade.symbol] = [trade.agg_id, 1]
                self._pending.set()
            else:
                if trade.agg_id > entry[0]:
                    entry[0] = trade.agg_id
                entry[1] += 1
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise OutputClosed(f"shard {self.name}: writer channel closed") from exc
        return True

    async def emit(self, item: WriterInput) -> None:
        """Send a control item, waiting for room (never called by the reader)."""
        try:
            await self.out.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise OutputClosed(f"shard {self.name}: writer channel closed") from exc

    async def report_drops(self) -> None:
        """Forever: send ``Dropped`` for pending drops as soon as the channel has room
        (a blocked sender is served before any later ``send_nowait``)."""
        while True:
            await self._pending.wait()
            self._pending = trio.Event()
            drops, self._drops = self._drops, {}
            for symbol, (max_id, count) in drops.items():
                await self.emit(Dropped(symbol, max_id, count))
