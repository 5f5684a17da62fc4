"""Stored forms of a bar: the ``stats:{S}:<tf>`` ZSET member JSON and the
``stats:{S}:current`` hash fields. Built and read only here.

The writer encodes its FixedBar bars (integers: each text
is made once, here); the readers decode ``Decimal`` Bar bars.
Decimals are plain strings (``format(d, "f")``, trailing fractional zeros removed — never
``1E+1``) that parse back to the same value; ints are JSON ints.
"""

from __future__ import annotations

from decimal import Decimal

import orjson

from orders_cli.stats.bars import VWAP_PLACES, Bar
from orders_cli.stats.fixed import FixedBar, from_bar, vwap

BAR_FIELDS: tuple[str, ...] = (
    "window_start",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trades_count",
    "fills_count",
    "first_agg_id",
    "last_agg_id",
    "first_trade_id",
    "last_trade_id",
    "is_buyer_maker_count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "last_update_time",
)
"""The member's keys, in order."""

CURRENT_FIELDS: tuple[str, ...] = (
    "last_update_time",
    "volume",
    "trades_count",
    "high_price",
    "low_price",
    "first_trade_id",
    "last_trade_id",
    "is_buyer_maker_count",
    "window_start",
    "open_price",
    "close_price",
    "quote_volume",
    "first_agg_id",
    "last_agg_id",
    "fills_count",
    "taker_buy_volume",
)

CURRENT_DECIMALS: frozenset[str] = frozenset(
    {"volume", "high_price", "low_price", "open_price", "close_price", "quote_volume",
     "taker_buy_volume"}
)  # fmt: skip
"""The hash fields that are decimals (strings); every other one is an int (a count, an
id or an epoch-ms time)."""


def fmt_decimal(d: Decimal) -> str:
    """Plain exact string: ``Decimal("1E+1")`` -> ``"10"``, ``"1.50000"`` -> ``"1.5"``."""
    s = str(d)  # C fast path; falls back below for exponent forms and non-finite values
    if "E" in s or not s[-1].isdigit():  # "1E+1", "1.5E-7"; "NaN", "Infinity", "sNaN"
        if not d.is_finite():
            raise ValueError(f"non-finite decimal {d!r}")
        s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def fmt_units(value: int, scale: int) -> str:
    """:func:`fmt_decimal` of ``value * 10**-scale``, from the integer: ``(150, 2)`` ->
    ``"1.5"``, ``(10, 0)`` -> ``"10"``, ``(5, 3)`` -> ``"0.005"``."""
    if value < 0:
        s = fmt_units(-value, scale)
        return "-" + s if s != "0" else s
    s = str(value)
    if not scale:
        return s
    n = len(s) - scale  # digits before the point
    if n <= 0:
        s = "0" * (1 - n) + s
        n = 1
    frac = s[n:].rstrip("0")
    return s[:n] + "." + frac if frac else s[:n]


def fmt_vwap(bar: FixedBar) -> str:
    """The text of :attr:`Bar.vwap <orders_cli.stats.bars.Bar.vwap>` of ``bar``."""
    return fmt_units(*vwap(bar))


_MEMBER_TEMPLATE = (
    '{"window_start":%d,"open":"%s","high":"%s","low":"%s","close":"%s","volume":"%s",'
    '"quote_volume":"%s","vwap":"%s","trades_count":%d,"fills_count":%d,"first_agg_id":%d,'
    '"last_agg_id":%d,"first_trade_id":%d,"last_trade_id":%d,"is_buyer_maker_count":%d,'
    '"taker_buy_volume":"%s","taker_buy_quote_volume":"%s","last_update_time":%d}'
)
"""The member, :data:`BAR_FIELDS` in order: byte for byte what ``orjson.dumps`` makes of
that dict for every bar built from valid trades (no spaces; the decimal texts are
``[-0-9.]`` only, nothing to escape; the ints are ints), about twice as fast on the
writer's hot path (tests/stats/test_codec.py compares both)."""


def _encode(bar: FixedBar, current: bool) -> tuple[bytes, tuple[str, ...]]:
    """The member and, if ``current``, the :data:`CURRENT_FIELDS` values: each decimal
    formatted once (the bar unpacked once: cheaper than its attributes)."""
    (ws, o, h, lo, c, vol, qv, n, fills, fa, la, ft, lt, bm, tbv, tbqv, lut, ps, qs, vs) = bar
    f = fmt_units
    # equal values share one text (a quiet window: one price; all makers or all takers)
    open_ = f(o, ps)
    close = open_ if c == o else f(c, ps)
    high = open_ if h == o else close if h == c else f(h, ps)
    low = open_ if lo == o else close if lo == c else f(lo, ps)
    volume, quote_volume = f(vol, qs), f(qv, vs)
    tb_volume = volume if tbv == vol else "0" if not tbv else f(tbv, qs)
    tb_quote = quote_volume if tbqv == qv else "0" if not tbqv else f(tbqv, vs)
    # one price p: sum(p * q) / sum(q) is p exactly, already within VWAP_PLACES places
    vwap = open_ if h == lo and vol and ps <= VWAP_PLACES else fmt_vwap(bar)
    member = (
        _MEMBER_TEMPLATE
        % (ws, open_, high, low, close, volume, quote_volume, vwap, n, fills,
           fa, la, ft, lt, bm, tb_volume, tb_quote, lut)
    ).encode()  # fmt: skip
    if not current:
        return member, ()
    return member, (
        str(lut), volume, str(n), high, low, str(ft), str(lt), str(bm), str(ws), open_,
        close, quote_volume, str(fa), str(la), str(fills), tb_volume,
    )  # fmt: skip


def _fixed(bar: FixedBar | Bar) -> FixedBar:
    return bar if isinstance(bar, FixedBar) else from_bar(bar)


def encode_bar(bar: FixedBar | Bar) -> bytes:
    """The ZSET member (score = ``bar.window_start``): JSON, :data:`BAR_FIELDS` order."""
    return _encode(_fixed(bar), False)[0]


def encode_bar_and_current(bar: FixedBar) -> tuple[bytes, tuple[str, ...]]:
    """:func:`encode_bar` and the :func:`current_fields` values (in
    :data:`CURRENT_FIELDS` order) of one bar, formatting each decimal once (the writer
    needs both for the newest 100 ms window)."""
    return _encode(bar, True)


def decode_fixed(raw: bytes | str) -> FixedBar:
    """:func:`decode_bar` as the writer's :class:`FixedBar` (scales: those of the texts)."""
    return from_bar(decode_bar(raw))


def decode_bar(raw: bytes | str) -> Bar:
    """Inverse of :func:`encode_bar` (``vwap`` is recomputed, not read)."""
    d = orjson.loads(raw)
    return Bar(
        window_start=int(d["window_start"]),
        open=Decimal(d["open"]),
        high=Decimal(d["high"]),
        low=Decimal(d["low"]),
        close=Decimal(d["close"]),
        volume=Decimal(d["volume"]),
        quote_volume=Decimal(d["quote_volume"]),
        trades_count=int(d["trades_count"]),
        fills_count=int(d["fills_count"]),
        first_agg_id=int(d["first_agg_id"]),
        last_agg_id=int(d["last_agg_id"]),
        first_trade_id=int(d["first_trade_id"]),
        last_trade_id=int(d["last_trade_id"]),
        is_buyer_maker_count=int(d["is_buyer_maker_count"]),
        taker_buy_volume=Decimal(d["taker_buy_volume"]),
        taker_buy_quote_volume=Decimal(d["taker_buy_quote_volume"]),
        last_update_time=int(d["last_update_time"]),
    )


def current_fields(bar: FixedBar | Bar) -> dict[str, str]:
    """The ``stats:{S}:current`` hash of the newest 100 ms window (all values str)."""
    return dict(zip(CURRENT_FIELDS, _encode(_fixed(bar), True)[1], strict=True))


def typed_current(fields: dict[str, str]) -> dict[str, int | str]:
    """A ``stats:{S}:current`` hash read back (all text) with its counts, ids and times
    as ints and its decimals kept as the stored strings (what JSON readers get)."""
    return {k: v if k in CURRENT_DECIMALS else int(v) for k, v in fields.items()}


def bar_from_current(fields: dict[str, str]) -> Bar:
    """A :class:`Bar` back from a ``stats:{S}:current`` hash (``taker_buy_quote_volume``
    is not in the hash: it comes back as 0)."""
    return Bar(
        window_start=int(fields["window_start"]),
        open=Decimal(fields["open_price"]),
        high=Decimal(fields["high_price"]),
        low=Decimal(fields["low_price"]),
        close=Decimal(fields["close_price"]),
        volume=Decimal(fields["volume"]),
        quote_volume=Decimal(fields["quote_volume"]),
        trades_count=int(fields["trades_count"]),
        fills_count=int(fields["fills_count"]),
        first_agg_id=int(fields["first_agg_id"]),
        last_agg_id=int(fields["last_agg_id"]),
        first_trade_id=int(fields["first_trade_id"]),
        last_trade_id=int(fields["last_trade_id"]),
        is_buyer_maker_count=int(fields["is_buyer_maker_count"]),
        taker_buy_volume=Decimal(fields["taker_buy_volume"]),
        taker_buy_quote_volume=Decimal(0),
        last_update_time=int(fields["last_update_time"]),
    )
