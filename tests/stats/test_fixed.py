"""The writer's integer fixed-point bars equal the ``Decimal`` reference and encode to the
same bytes as the ``Decimal`` bars always did — whatever the batching, the arrival order
and the number of decimals of each trade's strings."""

from __future__ import annotations

import decimal
import itertools
import random
from decimal import Decimal

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orders_cli.models import Trade
from orders_cli.stats.bars import Bar, bars_from_trades_reference
from orders_cli.stats.codec import (
    BAR_FIELDS,
    CURRENT_FIELDS,
    current_fields,
    decode_fixed,
    encode_bar,
    encode_bar_and_current,
    fmt_decimal,
    fmt_units,
    fmt_vwap,
)
from orders_cli.stats.fixed import FixedBar, bars_for_batch, from_bar, merge_bars, units
from orders_cli.timeframes import TIMEFRAMES
from tests.stats.stats_strategies import trade_lists


def decimal_member(bar: Bar) -> bytes:
    """The stored member as the ``Decimal`` writer made it: the obvious orjson dict."""
    d = bar._asdict()
    d["vwap"] = bar.vwap
    return orjson.dumps(
        {k: d[k] if isinstance(d[k], int) else fmt_decimal(d[k]) for k in BAR_FIELDS}
    )


def decimal_current(bar: Bar) -> dict[str, str]:
    """The ``stats:{S}:current`` hash as the ``Decimal`` writer made it."""
    names = {"high_price": "high", "low_price": "low", "open_price": "open"}
    names["close_price"] = "close"
    d = bar._asdict()
    return {
        f: str(v) if isinstance(v, int) else fmt_decimal(v)
        for f in CURRENT_FIELDS
        for v in [d[names.get(f, f)]]
    }


def _text(units_: int, scale: int, pad: int) -> str:
    """``units_ * 10**-scale`` as an exchange string with ``pad`` extra trailing zeros."""
    s = format(Decimal(units_).scaleb(-scale), "f")
    if pad:
        s += ("" if "." in s else ".") + "0" * pad
    return s


@st.composite
def mixed_scale_trades(draw: st.DrawFn) -> list[Trade]:
    """Trades whose prices and quantities each have their own number of decimals (0-18,
    trailing zeros or not): what exercises the scale alignment."""
    base = draw(trade_lists(max_size=25))
    out = []
    for t in base:
        ps, qs = draw(st.integers(0, 18)), draw(st.integers(0, 18))  # (the wire: <= 18)
        price = _text(draw(st.integers(1, 10**15)), ps, draw(st.integers(0, 4)))
        qty = _text(draw(st.integers(0, 10**20)), qs, draw(st.integers(0, 4)))
        out.append(
            Trade(t.symbol, t.agg_id, price, qty, t.first_trade_id, t.last_trade_id,
                  t.trade_time, t.is_buyer_maker, t.event_time)
        )  # fmt: skip
    return out


def _batches(trades: list[Trade], rnd: random.Random) -> list[list[Trade]]:
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    k = min(len(shuffled) - 1, rnd.randint(0, 6))
    cuts = sorted(rnd.sample(range(1, len(shuffled)), k=k)) if k > 0 else []
    return [shuffled[a:b] for a, b in itertools.pairwise([0, *cuts, len(shuffled)])]


def _assert_same_as_reference(got: dict[str, dict[int, FixedBar]], trades: list[Trade]) -> None:
    want = bars_from_trades_reference(trades)
    for tf in TIMEFRAMES:
        assert got[tf].keys() == want[tf].keys(), tf
        for ws, ref in want[tf].items():
            bar = got[tf][ws]
            assert bar.to_bar() == ref, (tf, ws)
            assert encode_bar(bar) == decimal_member(ref), (tf, ws)
            member, cur = encode_bar_and_current(bar)
            assert member == decimal_member(ref)
            assert dict(zip(CURRENT_FIELDS, cur, strict=True)) == decimal_current(ref)


@settings(max_examples=300)
@given(
    st.one_of(trade_lists(), mixed_scale_trades()),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_fixed_bars_of_any_batching_are_the_decimal_reference_byte_for_byte(
    trades: list[Trade], rnd: random.Random, round_trip: bool
) -> None:
    stored: dict[str, dict[int, FixedBar]] = {tf: {} for tf in TIMEFRAMES}
    for batch in _batches(trades, rnd):
        new = bars_for_batch(batch)
        for tf in TIMEFRAMES:
            if rnd.random() < 0.5:
                merge_bars(stored[tf], new[tf])
            else:  # the merge must not care which side is the stored bar
                for ws, bar in new[tf].items():
                    old = stored[tf].get(ws)
                    stored[tf][ws] = bar if old is None else bar.merge(old)
            if round_trip:  # what the writer reads back from Redis (scales of the texts)
                stored[tf] = {ws: decode_fixed(encode_bar(b)) for ws, b in stored[tf].items()}
    _assert_same_as_reference(stored, trades)


@given(st.one_of(trade_lists(min_size=3, max_size=20), mixed_scale_trades()))
def test_merge_is_associative_and_commutative_in_value(trades: list[Trade]) -> None:
    one_day = [
        Trade(t.symbol, t.agg_id, t.price, t.quantity, t.first_trade_id, t.last_trade_id,
              t.trade_time % 86_400_000, t.is_buyer_maker, t.event_time)
        for t in trades
    ]  # fmt: skip
    parts = [one_day[i::3] for i in range(3)]
    if not all(parts):
        return
    a, b, c = (bars_for_batch(p)["1d"][0] for p in parts)
    assert a.merge(b).to_bar() == b.merge(a).to_bar()
    assert a.merge(b).merge(c).to_bar() == a.merge(b.merge(c)).to_bar()
    assert a.merge(b).merge(c).to_bar() == bars_from_trades_reference(one_day)["1d"][0]


@given(st.integers(0, 10**40), st.integers(0, 30), st.integers(0, 5))
def test_units_and_fmt_units_are_exact_inverses_of_the_decimal_text(
    value: int, scale: int, pad: int
) -> None:
    text = _text(value, scale, pad)
    v, s = units(text)
    assert Decimal(v).scaleb(-s) == Decimal(text)
    assert fmt_units(v, s) == fmt_decimal(Decimal(text))
    assert fmt_units(-v, s) == fmt_decimal(-Decimal(text))


@settings(max_examples=500)
@given(
    st.one_of(st.integers(0, 10**40), st.integers(0, 10**50)),  # what a Decimal can hold
    st.integers(1, 10**30),
    st.integers(0, 20),
    st.integers(0, 12),
    st.integers(0, 3),
    st.booleans(),
)
@example(quote=5, volume=1, qs=17, vs=0, twos=0, tie=False)  # 5e-17: to 0, the even one
@example(quote=15, volume=1, qs=17, vs=0, twos=0, tie=False)  # 1.5e-16: to 2e-16
def test_the_integer_vwap_rounds_exactly_like_the_decimal_one(
    quote: int, volume: int, qs: int, vs: int, twos: int, tie: bool
) -> None:
    if tie:  # a quotient ending in 5 just past the 16th place (or the 80th digit)
        volume = 2**twos * 5 ** (twos + 1)
        quote = volume * quote + volume // 2
    bar = from_bar(
        bars_for_batch([Trade("X", 1, "1", "1", 1, 1, 0, False, 0)])["100ms"][0].to_bar()
    )
    bar = bar._replace(quote_volume=quote, volume=volume, quote_scale=qs, qty_scale=vs)
    assert fmt_vwap(bar) == fmt_decimal(bar.to_bar().vwap)


def test_units_reads_other_decimal_forms_through_decimal_and_refuses_non_numbers() -> None:
    assert units("1E+1") == (10, 0)
    assert units("1.5E-7") == (15, 8)
    assert units(".5") == (5, 1) and units("5.") == (5, 0)
    assert units("-0.25") == (-25, 2)
    with pytest.raises(ValueError):
        units("NaN")
    with pytest.raises(decimal.InvalidOperation):
        units("1.2.3")
    with pytest.raises(decimal.InvalidOperation):
        units("")


def test_a_fixed_bar_converts_to_and_from_its_decimal_bar() -> None:
    trades = [
        Trade("X", 1, "10.50000000", "2", 1, 1, 0, False, 1),
        Trade("X", 2, "9.5", "0.00100000", 2, 3, 50, True, 60),
    ]
    bar = bars_for_batch(trades)["1m"][0]
    assert (bar.price_scale, bar.qty_scale, bar.quote_scale) == (8, 8, 16)
    dec = bar.to_bar()
    assert dec == bars_from_trades_reference(trades)["1m"][0]
    assert from_bar(dec).to_bar() == dec
    assert current_fields(bar) == current_fields(dec) == decimal_current(dec)
    with pytest.raises(ValueError):
        bar.merge(bars_for_batch([Trade("X", 3, "1", "1", 4, 4, 100, False, 100)])["100ms"][100])
