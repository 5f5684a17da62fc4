"""Exactness: 80-digit context, 10,000+ trades in one bar, codec strings, vwap, checks."""

from __future__ import annotations

import decimal
from decimal import Decimal

import orjson
import pytest
from hypothesis import given

from orders_cli.models import Trade
from orders_cli.stats.bars import (
    DECIMAL_CONTEXT,
    Bar,
    bars_from_trades_reference,
    window_start,
)
from orders_cli.stats.check import compare_kline, diff_bars
from orders_cli.stats.codec import (
    BAR_FIELDS,
    CURRENT_FIELDS,
    current_fields,
    decode_bar,
    encode_bar,
)
from orders_cli.stats.fixed import FixedBar, bars_for_batch, merge_bars
from orders_cli.timeframes import TF_MS, TIMEFRAMES
from tests.stats.stats_strategies import trade_lists, units_str


def _t(a: int, price: str, qty: str, t: int, maker: bool = False, f: int | None = None) -> Trade:
    f = a * 3 if f is None else f
    return Trade("X", a, price, qty, f, f + 2, t, maker, t + 1)


def decimal_bars(trades: list[Trade]) -> dict[str, dict[int, Bar]]:
    """The writer's bars of one batch, as ``Decimal`` bars."""
    return {
        tf: {ws: b.to_bar() for ws, b in by_ws.items()}
        for tf, by_ws in bars_for_batch(trades).items()
    }


def test_window_start_is_utc_aligned() -> None:
    assert tuple(TF_MS) == TIMEFRAMES
    assert window_start("100ms", 1_234_567) == 1_234_500
    assert window_start("1m", 1_700_000_059_999) == 1_700_000_040_000
    assert window_start("1d", 86_400_000 * 3 + 5) == 86_400_000 * 3
    assert window_start("4h", 14_400_000 * 2 - 1) == 14_400_000


def test_open_close_follow_agg_id_when_time_goes_backwards() -> None:
    # a=2 has the earlier T, but a=1 is first: open is a=1's price, close a=3's
    trades = [_t(3, "3", "1", 1050), _t(2, "2", "1", 1010), _t(1, "1", "1", 1040)]
    bar = decimal_bars(trades)["100ms"][1000]
    assert (bar.open, bar.close, bar.high, bar.low) == tuple(map(Decimal, (1, 3, 3, 1)))
    assert (bar.first_agg_id, bar.last_agg_id, bar.first_trade_id, bar.last_trade_id) == (
        1, 3, 3, 11,
    )  # fmt: skip
    assert bar.fills_count == 9


def test_ten_thousand_max_size_trades_in_one_bar_are_exact() -> None:
    n = 12_000
    p_units = [10**14 - 1 - (i * 7919) % 10**6 for i in range(n)]  # ~999999.99 with 8 dp
    q_units = [10**18 - 1 - (i * 104729) % 10**9 for i in range(n)]  # ~9999999999.99 with 8 dp
    trades = [
        _t(i, units_str(p, True), units_str(q, True), 5_000 + i % 100, maker=i % 4 == 0)
        for i, (p, q) in enumerate(zip(p_units, q_units, strict=True))
    ]
    want_q = Decimal(sum(p * q for p, q in zip(p_units, q_units, strict=True))).scaleb(
        -16, DECIMAL_CONTEXT
    )
    want_v = Decimal(sum(q_units)).scaleb(-8, DECIMAL_CONTEXT)
    # the default 28-digit context would have rounded this silently
    with pytest.raises(decimal.Inexact):
        decimal.Context(prec=28, traps=[decimal.Inexact]).multiply(
            Decimal(trades[0].price), Decimal(trades[0].quantity)
        )
    stored: dict[int, FixedBar] = {}
    for k in range(0, n, 1000):  # in batches, reversed order inside each
        merge_bars(stored, bars_for_batch(trades[k : k + 1000][::-1])["100ms"])
    fixed = stored[5_000]
    bar = fixed.to_bar()
    assert bar.trades_count == n and bar.volume == want_v and bar.quote_volume == want_q
    assert len(bar.quote_volume.as_tuple().digits) > 28
    assert decode_bar(encode_bar(fixed)) == bar
    assert bars_from_trades_reference(trades)["1d"][0].quote_volume == want_q


def test_context_traps_any_rounding() -> None:
    big = Decimal(10) ** 90
    with pytest.raises(decimal.Inexact):
        DECIMAL_CONTEXT.add(big, Decimal("0.1"))


def test_encode_is_plain_ordered_and_exact() -> None:
    bar = decimal_bars([_t(1, "1E+1", "0.10000000", 0), _t(2, "0.00000001", "3", 50)])["1m"][0]
    raw = encode_bar(bar)
    d = orjson.loads(raw)
    assert tuple(d) == BAR_FIELDS
    assert b"E" not in raw and b"e+" not in raw
    assert d["open"] == "10" and d["low"] == "0.00000001" and d["volume"] == "3.1"
    assert d["vwap"] == str(bar.vwap) and isinstance(d["trades_count"], int)
    assert decode_bar(raw) == bar
    cur = current_fields(bar)
    assert tuple(cur) == CURRENT_FIELDS and all(isinstance(v, str) for v in cur.values())


@given(trade_lists(max_size=10))
def test_round_trip_exact_for_any_bar(trades: list[Trade]) -> None:
    for tf_bars in decimal_bars(trades).values():
        for bar in tf_bars.values():
            back = decode_bar(encode_bar(bar))
            assert back == bar and back.vwap == bar.vwap


def test_vwap_precision() -> None:
    bar = decimal_bars([_t(1, "1", "1", 0), _t(2, "2", "2", 1)])["100ms"][0]
    assert bar.vwap == Decimal("1.6666666666666667")  # 5/3, 16 dp half-even


def test_merge_of_other_window_is_refused() -> None:
    a = bars_for_batch([_t(1, "1", "1", 0)])["100ms"][0]
    b = bars_for_batch([_t(2, "1", "1", 100)])["100ms"][100]
    with pytest.raises(ValueError):
        a.merge(b)


def test_diff_bars_and_compare_kline() -> None:
    trades = [_t(1, "10", "2", 0, maker=True), _t(2, "11", "1", 30_000)]
    bar = decimal_bars(trades)["1m"][0]
    other = decimal_bars(trades[:1])["1m"][0]
    assert diff_bars({0: bar}, {0: bar}) == []
    kinds = {(d.kind, d.field) for d in diff_bars({0: bar, 60_000: bar}, {0: other, 1: bar})}
    assert ("missing", None) in kinds and ("extra", None) in kinds
    assert ("field", "close") in kinds and ("field", "volume") in kinds
    kline = [0, "10.00", "11.0", "10", "11", "3.000", 59_999, "31", 6, "1.0", "11.00", "0"]
    assert compare_kline(bar, kline, tf="1m") == []
    bad = [*kline[:5], "3.00000001", *kline[6:]]
    assert [m.split(":")[0] for m in compare_kline(bar, bad)] == ["volume"]
    assert compare_kline(bar, [*kline[:8], 2, *kline[9:]])[0].startswith("number_of_trades")
