"""The REST history window of a market: futures REST keeps only the last 48 h (USD-M) or
24 h (COIN-M) of aggregate trades (``Source.rest_history_ms``, docs/binance.md §3.3).

An id older than that can never be fetched again: it is an exchange-side hole, and what
REST answers for it is not promised (the oldest kept trades, or nothing). So the backfill
asks once where the window starts (:func:`edge_request`) instead of retrying an empty
page, and a cold start never asks for times REST may already have dropped
(:func:`cold_start_since`): ``--backfill 24h`` on COIN-M is exactly the window.
"""

from __future__ import annotations

from orders_cli.pipeline.backfill_plan import AggTradesSource
from orders_cli.sources.base import RestRequest

EDGE_MARGIN_MS = 10 * 60_000
"""A cold start begins this far inside the window: its pages must reach the first ids
before the sliding edge drops them."""

HOUR_MS = 3_600_000


def history_ms(source: object) -> int | None:
    """How far back the source's REST reaches (None: no limit)."""
    value = getattr(source, "rest_history_ms", None)
    return value if type(value) is int and value > 0 else None


def cold_start_since(source: object, since_ms: int, now_ms: int) -> int:
    """``since_ms``, moved ``EDGE_MARGIN_MS`` inside the REST window if it is not."""
    window = history_ms(source)
    if window is None:
        return since_ms
    return max(since_ms, now_ms - window + EDGE_MARGIN_MS)


def edge_request(source: AggTradesSource, symbol: str, now_ms: int) -> RestRequest | None:
    """The call whose first trade is the oldest REST keeps (the first within an hour of
    the window's edge); None when the source has no window."""
    window = history_ms(source)
    if window is None:
        return None
    start = now_ms - window
    return source.agg_trades_request(symbol, start_time=start, end_time=start + HOUR_MS, limit=1)


def outside_note(source: object) -> str:
    window = history_ms(source)
    return "" if window is None else f"outside Binance's {window // HOUR_MS} h REST window"
