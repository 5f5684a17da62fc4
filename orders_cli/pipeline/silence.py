"""Head checks of silent symbols: a trade the exchange never delivered live (no frame, no
reconnect) before a quiet spell would stay missing until the symbol's next trade or the
slow sweep.

A symbol is silent when no live trade of it was applied for longer than
max(``FLOOR_S``, ``FACTOR`` x its mean inter-trade gap over the last hour), capped at
``cap_s`` (a symbol with no trade in the last hour waits the cap). It then gets one head
check; while it stays quiet, another after twice the previous wait, never more than
``cap_s`` apart. So every trade is in Redis within ``cap_s`` plus one check of its time,
or counted as an open gap (the check found it, the fill is under way).

These checks use at most ``checks_per_minute`` in any 60 s (``SHARE`` of the weight
limit, see :func:`checks_per_minute`); when more are due, the longest overdue go first.
Times are trio's clock (monotonic).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

import attrs
import trio

from orders_cli.messages import BackfillInput, HeadCheck

FLOOR_S = 5.0
FACTOR = 10.0
HOUR = 3600.0
SHARE = 0.1
"""Of the exchange's weight limit per minute."""
DEFAULT_CAP_S = 600.0


def checks_per_minute(weight_limit: int, head_weight: int, share: float = SHARE) -> int:
    """Head checks per minute that spend at most ``share`` of ``weight_limit``."""
    return max(1, int(weight_limit * share) // max(1, head_weight))


@attrs.define
class _Quiet:
    since: float  # watched since
    wait: float  # the silence that makes the next check due
    due_at: float
    minutes: deque[tuple[int, int]] = attrs.field(factory=deque)  # (minute, trades)
    trades: int = 0  # in ``minutes``


class SilenceWatch:
    def __init__(self, cap_s: float = DEFAULT_CAP_S, checks_per_minute: int = 150) -> None:
        if cap_s <= 0 or checks_per_minute < 1:
            raise ValueError(f"bad silence watch: cap {cap_s} s, {checks_per_minute}/min")
        self.cap_s = cap_s
        self.checks_per_minute = checks_per_minute
        self._symbols: dict[str, _Quiet] = {}
        self._sent: deque[float] = deque()  # when the checks of the last minute went

    def __len__(self) -> int:
        return len(self._symbols)

    def track(self, symbols: Iterable[str], now: float) -> None:
        """Watch exactly ``symbols`` (the subscribed ones); new ones start quiet now."""
        wanted = set(symbols)
        for s in self._symbols.keys() - wanted:
            del self._symbols[s]
        for s in wanted - self._symbols.keys():
            self._symbols[s] = _Quiet(since=now, wait=self.cap_s, due_at=now + self.cap_s)

    def saw(self, symbol: str, trades: int, now: float) -> None:
        """``trades`` live trades of ``symbol`` were applied at ``now``."""
        q = self._symbols.get(symbol)
        if q is None:
            q = self._symbols[symbol] = _Quiet(since=now, wait=self.cap_s, due_at=now)
        minute = int(now // 60)
        if q.minutes and q.minutes[-1][0] == minute:
            q.minutes[-1] = (minute, q.minutes[-1][1] + trades)
        else:
            q.minutes.append((minute, trades))
        q.trades += trades
        while q.minutes[0][0] <= minute - 60:
            q.trades -= q.minutes.popleft()[1]
        span = min(HOUR, now - q.since)
        mean_gap = span / q.trades if q.trades and span > 0 else float("inf")
        q.wait = min(self.cap_s, max(FLOOR_S, FACTOR * mean_gap))
        q.due_at = now + q.wait

    def due(self, now: float) -> list[str]:
        """The symbols to head-check now (within the share), longest overdue first; each
        one's next check waits twice as long (up to the cap) unless it trades."""
        sent = self._sent
        while sent and sent[0] <= now - 60:
            sent.popleft()
        room = self.checks_per_minute - len(sent)
        if room <= 0:
            return []
        ready = sorted((q.due_at, s) for s, q in self._symbols.items() if q.due_at <= now)
        out = [s for _, s in ready[:room]]
        for s in out:
            q = self._symbols[s]
            q.wait = min(self.cap_s, 2 * q.wait)
            q.due_at = now + q.wait
            sent.append(now)
        return out


async def silence_checks(
    watch: SilenceWatch,
    symbols: Callable[[], Sequence[str]],
    send: trio.MemorySendChannel[BackfillInput],
    *,
    tick_s: float = 1.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Forever: every ``tick_s``, send one ``HeadCheck`` (reason "silence") for the due
    symbols of ``symbols()``. ``send`` should be this task's own clone: closed on exit."""
    async with send:
        watch.track(symbols(), trio.current_time())
        task_status.started()
        while True:
            await trio.sleep(tick_s)
            now = trio.current_time()
            watch.track(symbols(), now)
            due = watch.due(now)
            if due:
                await send.send(HeadCheck(tuple(due), reason="silence"))
