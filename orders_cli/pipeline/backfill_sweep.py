"""The periodic head-check sweep: its cadence comes from the REST weight budget.

A head check is ``aggTrades?limit=1`` (4 weight on spot): 1,500 spot symbols cost
6,000 weight, a whole minute of the IP budget. The sweep is spread so that it uses at
most ``share`` (25 %) of the usable budget; the rest stays for gap fills.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import trio

from orders_cli.messages import BackfillInput, HeadCheck


def sweep_interval(
    n_symbols: int,
    weight_limit: int,
    target_fraction: float,
    head_weight: int = 4,
    *,
    share: float = 0.25,
    floor_s: float = 10.0,
) -> float:
    """Seconds one full sweep over ``n_symbols`` should take so that it spends at most
    ``share`` of ``weight_limit * target_fraction`` per minute (never below ``floor_s``)."""
    per_minute = weight_limit * target_fraction * share
    if per_minute <= 0:
        raise ValueError("the weight budget must be positive")
    return max(floor_s, 60.0 * n_symbols * head_weight / per_minute)


async def sweeper(
    symbols: Callable[[], Sequence[str]],
    send: trio.MemorySendChannel[BackfillInput],
    *,
    weight_limit: int,
    target_fraction: float,
    head_weight: int = 4,
    slice_size: int = 50,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Forever: send ``HeadCheck`` for every symbol of ``symbols()`` (read again at each
    sweep, so listings show up) in slices, evenly over ``sweep_interval``. ``send``
    should be this task's own clone: it is closed on exit."""
    async with send:
        task_status.started()
        while True:
            current = list(symbols())
            interval = sweep_interval(len(current), weight_limit, target_fraction, head_weight)
            if not current:
                await trio.sleep(interval)
                continue
            slices = [current[i : i + slice_size] for i in range(0, len(current), slice_size)]
            pause = interval / len(slices)
            for part in slices:
                await send.send(HeadCheck(tuple(part)))
                await trio.sleep(pause)
