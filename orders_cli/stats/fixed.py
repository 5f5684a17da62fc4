"""The writer's bars: exact integer fixed-point accumulators (the hot path).

A decimal string is held as an ``int`` of units of ``10**-scale``: ``"1.50000000"`` is
``(150000000, 8)``. A :class:`FixedBar` keeps one scale per kind of field (prices; the
quantities; the quote volumes, ``sum(price * quantity)``), so a batch of trades sums with
``int`` additions and multiplications only — no ``Decimal`` context call per trade — and
the text of a value is made once, when the bar is encoded (:mod:`.codec`). Two bars of
different scales (an exchange that changed its precision, a bar read back from Redis,
whose strings lost their trailing zeros) are aligned to the larger scale before merging:
multiplying by a power of ten is exact, so nothing ever rounds.

:meth:`FixedBar.to_bar` gives the :class:`~orders_cli.stats.bars.Bar` of ``Decimal`` values
(the readers' type); tests/stats/test_fixed.py checks that every bar built here equals
:func:`~orders_cli.stats.bars.bars_from_trades_reference`, and encodes to the same bytes.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from orders_cli.models import Trade
from orders_cli.stats.bars import DECIMAL_CONTEXT, VWAP_PLACES, Bar
from orders_cli.timeframes import TF_MS, TIMEFRAMES

_SCALEB = DECIMAL_CONTEXT.scaleb


_POW10: tuple[int, ...] = tuple(10**i for i in range(100))


def pow10(k: int) -> int:
    """``10**k`` for ``k >= 0`` (a table lookup for the usual ones)."""
    if k < 100:
        return _POW10[k]
    r: int = 10**k
    return r


def units(text: str) -> tuple[int, int]:
    """``(value, scale)`` with ``Decimal(text) == value * 10**-scale``, exactly.

    The wire's form (``[0-9]+(.[0-9]+)?``, checked by the parsers) is read with ``int``;
    anything else (``"1E+1"``, a sign) goes through ``Decimal``, which raises on what is
    not a number (``ValueError`` for NaN/Infinity)."""
    whole, _, frac = text.partition(".")
    digits = whole + frac
    if digits.isdigit() and digits.isascii():
        return int(digits), len(frac)
    return decimal_units(Decimal(text))


def decimal_units(d: Decimal) -> tuple[int, int]:
    """``(value, scale)`` of a finite ``Decimal`` (a positive exponent gives scale 0)."""
    if not d.is_finite():
        raise ValueError(f"non-finite decimal {d!r}")
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)  # finite: never "n", "N" or "F"
    if exp >= 0:
        return int(d), 0
    return int(_SCALEB(d, -exp)), -exp


def to_decimal(value: int, scale: int) -> Decimal:
    """The exact ``Decimal`` of ``value * 10**-scale``."""
    return _SCALEB(Decimal(value), -scale)


_new = tuple.__new__
"""``_new(FixedBar, values)``: the bar without the NamedTuple's Python-level ``__new__``
(about 0.12 vs 0.33 µs; the writer builds several per symbol and batch)."""


class FixedBar(NamedTuple):
    """:class:`~orders_cli.stats.bars.Bar`'s fields as integers: ``open``/``high``/
    ``low``/``close`` in units of ``10**-price_scale``, ``volume``/``taker_buy_volume`` of
    ``10**-qty_scale``, ``quote_volume``/``taker_buy_quote_volume`` of
    ``10**-quote_scale``. Equality is of the representation (compare :meth:`to_bar`
    for equality of values)."""

    window_start: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades_count: int
    fills_count: int
    first_agg_id: int
    last_agg_id: int
    first_trade_id: int
    last_trade_id: int
    is_buyer_maker_count: int
    taker_buy_volume: int
    taker_buy_quote_volume: int
    last_update_time: int
    price_scale: int
    qty_scale: int
    quote_scale: int

    def merge(self, other: FixedBar) -> FixedBar:
        """The bar of both trade sets (disjoint, same window). Associative, commutative."""
        if other.window_start != self.window_start:
            raise ValueError(
                f"cannot merge bars of windows {self.window_start} and {other.window_start}"
            )
        return _merge(self, other, self.window_start)

    def rescaled(self, price_scale: int, qty_scale: int, quote_scale: int) -> FixedBar:
        """The same values in finer units (each scale at least the bar's own)."""
        p = pow10(price_scale - self.price_scale)
        q = pow10(qty_scale - self.qty_scale)
        pq = pow10(quote_scale - self.quote_scale)
        (ws, o, h, lo, c, v, qv, n, fills, fa, la, ft, lt, bm, tbv, tbqv, lut, *_) = self
        return _new(FixedBar, (
            ws, o * p, h * p, lo * p, c * p, v * q, qv * pq, n, fills, fa, la, ft, lt, bm,
            tbv * q, tbqv * pq, lut, price_scale, qty_scale, quote_scale,
        ))  # fmt: skip

    def to_bar(self) -> Bar:
        """The same bar with exact ``Decimal`` values (the readers' type)."""
        ps, qs, vs = self.price_scale, self.qty_scale, self.quote_scale
        return Bar(
            self.window_start,
            to_decimal(self.open, ps),
            to_decimal(self.high, ps),
            to_decimal(self.low, ps),
            to_decimal(self.close, ps),
            to_decimal(self.volume, qs),
            to_decimal(self.quote_volume, vs),
            self.trades_count,
            self.fills_count,
            self.first_agg_id,
            self.last_agg_id,
            self.first_trade_id,
            self.last_trade_id,
            self.is_buyer_maker_count,
            to_decimal(self.taker_buy_volume, qs),
            to_decimal(self.taker_buy_quote_volume, vs),
            self.last_update_time,
        )


VWAP_SIGNIFICANT = 80
"""The ``Decimal`` vwap divides in an 80-digit context (:data:`~orders_cli.stats.bars.
VWAP_PLACES` places come after that rounding): :func:`vwap` rounds the same way twice."""


_VWAP_UNIT = 10**VWAP_PLACES
_FAST_BELOW = 10 ** (VWAP_PLACES + 20)  # a vwap below 10**20, in units of 10**-16
_FAST_MARGIN = 10 ** (VWAP_SIGNIFICANT - 20 - VWAP_PLACES)


def _div_half_even(n: int, d: int) -> int:
    """``n / d`` rounded half-even to an integer (``n >= 0``, ``d > 0``)."""
    q, r = divmod(n, d)
    r2 = r + r
    if r2 > d or (r2 == d and q & 1):
        q += 1
    return q


def vwap(bar: FixedBar) -> tuple[int, int]:
    """``(value, scale)`` of :attr:`Bar.vwap <orders_cli.stats.bars.Bar.vwap>`, in
    integers: ``quote_volume / volume`` rounded half-even to :data:`VWAP_SIGNIFICANT`
    significant digits (the ``Decimal`` division), then to ``VWAP_PLACES`` places.

    Rounding twice differs from rounding once only when the first rounding lands on a
    tie of the second: the quotient is then within half a unit of its 80th digit of a
    tie. Away from ties (and from huge values) one division does."""
    if not bar.volume:
        return bar.close, bar.price_scale
    n = bar.quote_volume * pow10(bar.qty_scale)  # the vwap is n / d
    d = bar.volume * pow10(bar.quote_scale)
    negative = (n < 0) != (d < 0)
    n, d = abs(n), abs(d)
    q, r = divmod(n * _VWAP_UNIT, d)
    # below 10**20 the 80th significant digit is at place 60 or further: a quotient more
    # than 10**-60 from a tie (|r/d - 1/2| > 10**-44 at 16 places) rounds once
    if q < _FAST_BELOW and abs(2 * r - d) * _FAST_MARGIN > d:
        if 2 * r > d:  # (not a tie: those take the other branch)
            q += 1
    else:
        q = _vwap_twice_rounded(n, d)
    return (-q if negative else q), VWAP_PLACES


def _vwap_twice_rounded(n: int, d: int) -> int:
    """``n / d`` (both > 0) rounded half-even to 80 significant digits, then to
    ``VWAP_PLACES`` places, in units of ``10**-VWAP_PLACES``."""
    if not n:
        return 0
    e = len(str(n)) - len(str(d))  # floor(log10(n / d)) is e or e - 1
    if (n * pow10(-e) if e < 0 else n) < (d * pow10(e) if e > 0 else d):
        e -= 1
    t = VWAP_SIGNIFICANT - 1 - e  # places that keep 80 significant digits
    c = _div_half_even(n * pow10(t), d) if t >= 0 else _div_half_even(n, d * pow10(-t))
    if t <= VWAP_PLACES:
        return c * pow10(VWAP_PLACES - t)
    return _div_half_even(c, pow10(t - VWAP_PLACES))


def from_bar(bar: Bar) -> FixedBar:
    """A :class:`FixedBar` of a ``Decimal`` bar (each kind at its largest scale)."""
    prices = [decimal_units(d) for d in (bar.open, bar.high, bar.low, bar.close)]
    qtys = [decimal_units(d) for d in (bar.volume, bar.taker_buy_volume)]
    quotes = [decimal_units(d) for d in (bar.quote_volume, bar.taker_buy_quote_volume)]
    ps, qs, vs = (max(s for _, s in kind) for kind in (prices, qtys, quotes))
    o, h, lo, c = (v * pow10(ps - s) for v, s in prices)
    vol, tbv = (v * pow10(qs - s) for v, s in qtys)
    qv, tbqv = (v * pow10(vs - s) for v, s in quotes)
    return FixedBar(
        bar.window_start,
        o,
        h,
        lo,
        c,
        vol,
        qv,
        bar.trades_count,
        bar.fills_count,
        bar.first_agg_id,
        bar.last_agg_id,
        bar.first_trade_id,
        bar.last_trade_id,
        bar.is_buyer_maker_count,
        tbv,
        tbqv,
        bar.last_update_time,
        ps,
        qs,
        vs,
    )


def _merge(a: FixedBar, b: FixedBar, ws: int) -> FixedBar:
    if (
        a.price_scale != b.price_scale
        or a.qty_scale != b.qty_scale
        or (a.quote_scale != b.quote_scale)
    ):
        ps = max(a.price_scale, b.price_scale)
        qs = max(a.qty_scale, b.qty_scale)
        vs = max(a.quote_scale, b.quote_scale)
        a, b = a.rescaled(ps, qs, vs), b.rescaled(ps, qs, vs)
    if b.first_agg_id < a.first_agg_id:  # a: the one that holds the first trade
        a, b = b, a
    # unpacked once: cheaper than ~40 attribute reads
    (_, o, h, lo, c, v, qv, n, fills, fa, la, ft, lt, bm, tbv, tbqv, lut, ps, qs, vs) = a
    (_, _, h2, lo2, c2, v2, qv2, n2, fills2, _, la2, _, lt2, bm2, tbv2, tbqv2, lut2, *_) = b
    if la2 > la:
        c, la, lt = c2, la2, lt2
    return _new(FixedBar, (
        ws, o, h if h >= h2 else h2, lo if lo <= lo2 else lo2, c, v + v2, qv + qv2, n + n2,
        fills + fills2, fa, la, ft, lt, bm + bm2, tbv + tbv2, tbqv + tbqv2,
        lut if lut >= lut2 else lut2, ps, qs, vs,
    ))  # fmt: skip


def merge_bars(into: dict[int, FixedBar], new: dict[int, FixedBar]) -> dict[int, FixedBar]:
    """``into`` updated in place with ``new`` (window-wise :meth:`FixedBar.merge`)."""
    for ws, bar in new.items():
        old = into.get(ws)
        into[ws] = bar if old is None else old.merge(bar)
    return into


_BY_AGG_ID = operator.attrgetter("agg_id")


def _group_100ms(trades: Sequence[Trade]) -> dict[int, list[Trade]]:
    """Trades by 100 ms window, each group in aggregate-id order."""
    groups: dict[int, list[Trade]] = {}
    for t in sorted(trades, key=_BY_AGG_ID):
        tt = t.trade_time
        ws = tt - tt % 100
        g = groups.get(ws)
        if g is None:
            groups[ws] = [t]
        else:
            g.append(t)
    return groups


def _aligned(value: int, scale: int, kept: int) -> tuple[int, int, int]:
    """A value at ``scale`` and sums at ``kept``, brought to the finer of the two:
    ``(the value, the factor for the sums, that scale)``."""
    if scale < kept:
        return value * pow10(kept - scale), 1, kept
    return value, pow10(scale - kept), scale


def _bar_of(ws: int, group: list[Trade]) -> FixedBar:
    """One window's bar from its trades (aggregate-id order). The scales are the largest
    the trades use: a trade with fewer decimals is scaled up, one with more scales up
    what was summed so far."""
    first = group[0]
    p, ps = units(first.price)
    q, qs = units(first.quantity)
    open_ = high = low = p
    vol = qvol = tb_vol = tb_qvol = 0
    fills = bm = 0
    lut = first.event_time
    for t in group:
        if t is not first:  # (the first one's p and q are read above)
            p, s = units(t.price)
            if s != ps:  # (rare: the same decimals from the same symbol)
                p, k, ps = _aligned(p, s, ps)
                open_, high, low = open_ * k, high * k, low * k
                qvol, tb_qvol = qvol * k, tb_qvol * k
            q, s = units(t.quantity)
            if s != qs:
                q, k, qs = _aligned(q, s, qs)
                vol, tb_vol, qvol, tb_qvol = vol * k, tb_vol * k, qvol * k, tb_qvol * k
        pq = p * q
        vol += q
        qvol += pq
        if t.is_buyer_maker:
            bm += 1
        else:
            tb_vol += q
            tb_qvol += pq
        if p > high:
            high = p
        elif p < low:
            low = p
        fills += t.last_trade_id - t.first_trade_id + 1
        if t.event_time > lut:
            lut = t.event_time
    last = group[-1]
    return _new(FixedBar, (
        ws, open_, high, low, p, vol, qvol, len(group), fills,  # p: the last price, the close
        first.agg_id, last.agg_id, first.first_trade_id, last.last_trade_id, bm, tb_vol,
        tb_qvol, lut, ps, qs, ps + qs,
    ))  # fmt: skip


def bars_100ms(trades: Sequence[Trade]) -> dict[int, FixedBar]:
    """One symbol's trades (any order, no duplicates) -> their 100 ms bars."""
    return {ws: _bar_of(ws, g) for ws, g in _group_100ms(trades).items()}


def roll_up(bars: dict[int, FixedBar], tf: str) -> dict[int, FixedBar]:
    """Bars of a finer timeframe merged into ``tf`` windows (``tf`` must be a multiple)."""
    size = TF_MS[tf]
    out: dict[int, FixedBar] = {}
    for ws, bar in bars.items():
        w = ws - ws % size
        old = out.get(w)
        if old is None:
            out[w] = bar if w == ws else _new(FixedBar, (w, *bar[1:]))
        else:
            out[w] = _merge(old, bar, w)
    return out


def bars_for_batch(trades: Sequence[Trade]) -> dict[str, dict[int, FixedBar]]:
    """One symbol's batch (any order, no duplicates) -> ``{tf: {window_start: bar}}`` for
    every timeframe: 100 ms bars first, then rolled up 100ms → 1m → ... → 1d."""
    out: dict[str, dict[int, FixedBar]] = {}
    prev = bars_100ms(trades)
    out[TIMEFRAMES[0]] = prev
    for tf in TIMEFRAMES[1:]:
        prev = roll_up(prev, tf)
        out[tf] = prev
    return out


def bars_at(trades: Sequence[Trade], tf: str) -> dict[int, FixedBar]:
    """One symbol's batch -> its ``tf`` bars only (coarser ones rolled up from 100 ms
    bars, which is the same result)."""
    bars = bars_100ms(trades)
    return bars if tf == TIMEFRAMES[0] else roll_up(bars, tf)
