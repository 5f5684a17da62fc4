"""Checks for ``orders verify --bars/--klines``: stored bars vs expected, bars vs Binance
REST klines. Pure functions, exact (``Decimal``) comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Literal

import attrs

from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import fmt_decimal
from orders_cli.timeframes import TF_MS

_COMPARED: tuple[str, ...] = tuple(f for f in Bar._fields if f != "last_update_time")
"""Fields :func:`diff_bars` compares (``last_update_time`` depends on arrival, not trades)."""


@attrs.frozen(slots=True)
class BarDiff:
    """One difference: a missing or extra window, or one field that differs."""

    kind: Literal["missing", "extra", "field"]
    window_start: int
    field: str | None = None
    expected: str | None = None
    stored: str | None = None

    def __str__(self) -> str:
        if self.kind == "field":
            return (
                f"{self.window_start}: {self.field} expected {self.expected}, stored {self.stored}"
            )
        return f"{self.window_start}: {self.kind} bar"


def _s(v: object) -> str:
    return fmt_decimal(v) if isinstance(v, Decimal) else str(v)


def diff_bars(expected: dict[int, Bar], stored: dict[int, Bar]) -> list[BarDiff]:
    """Every difference, ordered by window start (missing = expected, not stored)."""
    out: list[BarDiff] = []
    for ws in sorted(expected.keys() | stored.keys()):
        e, s = expected.get(ws), stored.get(ws)
        if s is None:
            out.append(BarDiff("missing", ws))
        elif e is None:
            out.append(BarDiff("extra", ws))
        else:
            for name in _COMPARED:
                ev, sv = getattr(e, name), getattr(s, name)
                if ev != sv:
                    out.append(BarDiff("field", ws, name, _s(ev), _s(sv)))
    return out


# (kline index, bar attribute, label); numberOfTrades counts fills, not aggregate trades.
_KLINE_FIELDS: tuple[tuple[int, str, str], ...] = (
    (1, "open", "open"),
    (2, "high", "high"),
    (3, "low", "low"),
    (4, "close", "close"),
    (5, "volume", "volume"),
    (7, "quote_volume", "quote_volume"),
    (8, "fills_count", "number_of_trades"),
    (9, "taker_buy_volume", "taker_buy_base"),
    (10, "taker_buy_quote_volume", "taker_buy_quote"),
)


def compare_kline(bar: Bar, kline: Sequence[object], *, tf: str | None = None) -> list[str]:
    """Differences between a bar and one Binance REST kline array ``[openTime, open, high,
    low, close, volume, closeTime, quoteVolume, numberOfTrades, takerBuyBase,
    takerBuyQuote, ignore]``, compared as ``Decimal``. With ``tf``, closeTime is checked."""
    if len(kline) < 11:
        return [f"kline has {len(kline)} fields, expected at least 11"]
    out: list[str] = []
    if _int(kline[0]) != bar.window_start:
        out.append(f"open_time: kline {kline[0]}, bar {bar.window_start}")
    if tf is not None and _int(kline[6]) != bar.window_start + TF_MS[tf] - 1:
        out.append(f"close_time: kline {kline[6]}, bar {bar.window_start + TF_MS[tf] - 1}")
    for idx, attr, label in _KLINE_FIELDS:
        mine = getattr(bar, attr)
        theirs = _dec(kline[idx])
        if theirs is None:
            out.append(f"{label}: kline value {kline[idx]!r} is not a number")
        elif Decimal(mine) != theirs:
            out.append(f"{label}: kline {kline[idx]}, bar {_s(mine)}")
    return out


def _dec(v: object) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, str | int | Decimal):
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _int(v: object) -> int | None:
    d = _dec(v)
    return int(d) if d is not None and d == d.to_integral_value() else None
