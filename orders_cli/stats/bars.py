"""OHLCV bars per UTC-aligned window, exact (``Decimal``): the readers' type and the
reference the writer's integer bars (:mod:`.fixed`) are tested against.

The window of a trade is chosen by its trade time ``T``; inside a window open/close
follow aggregate-id order (``T`` may go backwards while the id rises), never arrival order.
Every operation uses :data:`DECIMAL_CONTEXT` (80 digits, ``Inexact``/``Rounded`` trapped):
nothing ever rounds silently. The only rounded value is :attr:`Bar.vwap` (documented there).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from orders_cli.models import Trade
from orders_cli.timeframes import TF_MS, TIMEFRAMES

DECIMAL_CONTEXT = decimal.Context(
    prec=80,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Subnormal,
        decimal.Inexact,
        decimal.Rounded,
        decimal.Clamped,
    ],
)
"""Context for every bar operation: 80 significant digits and any rounding is an error."""

VWAP_PLACES = 16
"""``vwap`` is ``quote_volume / volume`` rounded half-even to this many decimal places
(twice the 8 dp of a price): exact-enough, stable and round-trips through its string."""

_VWAP_CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)
_VWAP_QUANTUM = Decimal(1).scaleb(-VWAP_PLACES)


def window_start(tf: str, trade_time_ms: int) -> int:
    """Start (ms since epoch, UTC-aligned) of the ``tf`` window that holds ``trade_time_ms``."""
    return trade_time_ms - trade_time_ms % TF_MS[tf]


class Bar(NamedTuple):
    """One window's statistics. Decimals are exact; ids are of the first/last aggregate
    trade by aggregate id (``first_trade_id`` is the ``f`` of the first one).

    A NamedTuple, not an attrs class: immutable all the same, and built ~4x faster
    (0.5 vs 1.9 µs). The writer builds integer bars (:mod:`.fixed`)."""

    window_start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades_count: int
    fills_count: int
    first_agg_id: int
    last_agg_id: int
    first_trade_id: int
    last_trade_id: int
    is_buyer_maker_count: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal
    last_update_time: int

    @property
    def vwap(self) -> Decimal:
        """``quote_volume / volume`` rounded half-even to :data:`VWAP_PLACES` decimal
        places, trailing zeros removed; ``close`` if the volume is zero."""
        if not self.volume:
            return self.close
        q = _VWAP_CONTEXT.divide(self.quote_volume, self.volume)
        return _VWAP_CONTEXT.quantize(q, _VWAP_QUANTUM).normalize(_VWAP_CONTEXT)


_ZERO = Decimal(0)


def bars_from_trades_reference(trades: Iterable[Trade]) -> dict[str, dict[int, Bar]]:
    """Naive reference: every timeframe computed directly from the trades (for tests and
    ``orders verify``). Slow and obviously right."""
    ordered = sorted(trades, key=lambda t: t.agg_id)
    out: dict[str, dict[int, Bar]] = {}
    with decimal.localcontext(DECIMAL_CONTEXT):
        for tf in TIMEFRAMES:
            groups: dict[int, list[Trade]] = {}
            for t in ordered:
                groups.setdefault(window_start(tf, t.trade_time), []).append(t)
            bars: dict[int, Bar] = {}
            for ws, g in groups.items():
                takers = [t for t in g if not t.is_buyer_maker]
                bars[ws] = Bar(
                    window_start=ws,
                    open=Decimal(g[0].price),
                    high=max(Decimal(t.price) for t in g),
                    low=min(Decimal(t.price) for t in g),
                    close=Decimal(g[-1].price),
                    volume=sum((Decimal(t.quantity) for t in g), _ZERO),
                    quote_volume=sum((Decimal(t.price) * Decimal(t.quantity) for t in g), _ZERO),
                    trades_count=len(g),
                    fills_count=sum(t.fills for t in g),
                    first_agg_id=g[0].agg_id,
                    last_agg_id=g[-1].agg_id,
                    first_trade_id=g[0].first_trade_id,
                    last_trade_id=g[-1].last_trade_id,
                    is_buyer_maker_count=len(g) - len(takers),
                    taker_buy_volume=sum((Decimal(t.quantity) for t in takers), _ZERO),
                    taker_buy_quote_volume=sum(
                        (Decimal(t.price) * Decimal(t.quantity) for t in takers), _ZERO
                    ),
                    last_update_time=max(t.event_time for t in g),
                )
            out[tf] = bars
    return out
