"""OHLCV bars per UTC-aligned window, exact (``Decimal``), mergeable, and their builders.

The window of a trade is chosen by its trade time ``T``; inside a window open/close
follow aggregate-id order (``T`` may go backwards while the id rises), never arrival order.
Every operation uses :data:`DECIMAL_CONTEXT` (80 digits, ``Inexact``/``Rounded`` trapped):
nothing ever rounds silently. The only rounded value is :attr:`Bar.vwap` (documented there).
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Iterable, Sequence
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
_ADD = DECIMAL_CONTEXT.add
_MUL = DECIMAL_CONTEXT.multiply


def window_start(tf: str, trade_time_ms: int) -> int:
    """Start (ms since epoch, UTC-aligned) of the ``tf`` window that holds ``trade_time_ms``."""
    return trade_time_ms - trade_time_ms % TF_MS[tf]


class Bar(NamedTuple):
    """One window's statistics. Decimals are exact; ids are of the first/last aggregate
    trade by aggregate id (``first_trade_id`` is the ``f`` of the first one).

    A NamedTuple, not an attrs class: immutable all the same, and built ~4x faster
    (0.5 vs 1.9 µs; the writer builds several per symbol-batch on its hot path)."""

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

    def merge(self, other: Bar) -> Bar:
        """The bar of both trade sets (disjoint, same window). Associative, commutative."""
        if other.window_start != self.window_start:
            raise ValueError(
                f"cannot merge bars of windows {self.window_start} and {other.window_start}"
            )
        return _merge(self, other, self.window_start)


def _merge(a: Bar, b: Bar, ws: int) -> Bar:
    first = a if a.first_agg_id <= b.first_agg_id else b
    last = a if a.last_agg_id >= b.last_agg_id else b
    return Bar(
        ws,
        first.open,
        a.high if a.high >= b.high else b.high,
        a.low if a.low <= b.low else b.low,
        last.close,
        _ADD(a.volume, b.volume),
        _ADD(a.quote_volume, b.quote_volume),
        a.trades_count + b.trades_count,
        a.fills_count + b.fills_count,
        first.first_agg_id,
        last.last_agg_id,
        first.first_trade_id,
        last.last_trade_id,
        a.is_buyer_maker_count + b.is_buyer_maker_count,
        _ADD(a.taker_buy_volume, b.taker_buy_volume),
        _ADD(a.taker_buy_quote_volume, b.taker_buy_quote_volume),
        a.last_update_time if a.last_update_time >= b.last_update_time else b.last_update_time,
    )


def merge_bars(into: dict[int, Bar], new: dict[int, Bar]) -> dict[int, Bar]:
    """``into`` updated in place with ``new`` (window-wise :meth:`Bar.merge`); returns it."""
    for ws, bar in new.items():
        old = into.get(ws)
        into[ws] = bar if old is None else old.merge(bar)
    return into


_ZERO = Decimal(0)


_BY_AGG_ID = operator.attrgetter("agg_id")


def _bars_100ms(trades: Sequence[Trade]) -> dict[int, Bar]:
    groups: dict[int, list[Trade]] = {}
    for t in sorted(trades, key=_BY_AGG_ID):
        tt = t.trade_time
        ws = tt - tt % 100
        g = groups.get(ws)
        if g is None:
            groups[ws] = [t]
        else:
            g.append(t)
    out: dict[int, Bar] = {}
    add, mul = _ADD, _MUL
    for ws, group in groups.items():
        vol = qvol = tb_vol = tb_qvol = _ZERO
        fills = bm = 0
        first = group[0]
        lut = first.event_time
        high = low = open_ = p = Decimal(first.price)
        for t in group:
            p = Decimal(t.price)
            q = Decimal(t.quantity)
            pq = mul(p, q)
            if not pq.is_finite():
                raise ValueError(f"non-finite price/quantity in trade {t.agg_id} of {t.symbol}")
            vol = add(vol, q)
            qvol = add(qvol, pq)
            if t.is_buyer_maker:
                bm += 1
            else:
                tb_vol = add(tb_vol, q)
                tb_qvol = add(tb_qvol, pq)
            if p > high:
                high = p
            elif p < low:
                low = p
            fills += t.last_trade_id - t.first_trade_id + 1
            if t.event_time > lut:
                lut = t.event_time
        last = group[-1]
        out[ws] = Bar(
            ws,
            open_,
            high,
            low,
            p,  # the last trade's price: the close
            vol,
            qvol,
            len(group),
            fills,
            first.agg_id,
            last.agg_id,
            first.first_trade_id,
            last.last_trade_id,
            bm,
            tb_vol,
            tb_qvol,
            lut,
        )
    return out


def _rewindow(b: Bar, ws: int) -> Bar:
    """``b`` as the only content of the coarser window ``ws``."""
    return Bar(
        ws,
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume,
        b.quote_volume,
        b.trades_count,
        b.fills_count,
        b.first_agg_id,
        b.last_agg_id,
        b.first_trade_id,
        b.last_trade_id,
        b.is_buyer_maker_count,
        b.taker_buy_volume,
        b.taker_buy_quote_volume,
        b.last_update_time,
    )


def roll_up(bars: dict[int, Bar], tf: str) -> dict[int, Bar]:
    """Bars of a finer timeframe merged into ``tf`` windows (``tf`` must be a multiple)."""
    size = TF_MS[tf]
    out: dict[int, Bar] = {}
    for ws, bar in bars.items():
        w = ws - ws % size
        old = out.get(w)
        if old is None:
            out[w] = bar if w == ws else _rewindow(bar, w)
        else:
            out[w] = _merge(old, bar, w)
    return out


def bars_for_batch(trades: Sequence[Trade]) -> dict[str, dict[int, Bar]]:
    """One symbol's batch (any order, no duplicates) -> ``{tf: {window_start: Bar}}`` for
    every timeframe: 100 ms bars first, then rolled up 100ms → 1m → ... → 1d."""
    out: dict[str, dict[int, Bar]] = {}
    prev = _bars_100ms(trades)
    out[TIMEFRAMES[0]] = prev
    for tf in TIMEFRAMES[1:]:
        prev = roll_up(prev, tf)
        out[tf] = prev
    return out


def bars_at(trades: Sequence[Trade], tf: str) -> dict[int, Bar]:
    """One symbol's batch -> its ``tf`` bars only (100 ms built directly; coarser ones
    rolled up from 100 ms bars, which is the same result)."""
    bars = _bars_100ms(trades)
    return bars if tf == TIMEFRAMES[0] else roll_up(bars, tf)


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
