"""Values that would stall or poison the store are rejected at the wire, without the host
clock: times within [2017-01-01, 2100-01-01) in ms, ``|T - E|`` under a day, ids under
2**53, decimals that fit the archive's decimal128(38, 18). Property tests of each bound."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.models import Rejection, Trade
from orders_cli.sources.binance.wire import (
    MAX_ID,
    MAX_SKEW_MS,
    MAX_TIME_MS,
    MIN_TIME_MS,
    parse_agg_trades,
    parse_frame,
)

GOOD: dict[str, Any] = {
    "e": "aggTrade",
    "E": 1617566591315,
    "s": "BTCUSDT",
    "a": 665076760,
    "p": "58001.03000000",
    "q": "0.08620500",
    "f": 745522877,
    "l": 745522878,
    "T": 1617566591314,
    "m": True,
}
REST_GOOD = {k: GOOD[k] for k in ("a", "p", "q", "f", "l", "T", "m")}


def _parse(**changes: object) -> Trade | Rejection:
    (event,) = parse_frame(orjson.dumps({**GOOD, **changes}))
    assert isinstance(event, Trade | Rejection), event
    return event


def _rejected_for(event: Trade | Rejection, reason: str) -> bool:
    return isinstance(event, Rejection) and event.reason == reason and event.out_of_range


def test_the_bounds_are_the_documented_dates_and_sizes() -> None:
    assert MIN_TIME_MS == 1_483_228_800_000  # 2017-01-01T00:00:00Z
    assert MAX_TIME_MS == 4_102_444_800_000  # 2100-01-01T00:00:00Z
    assert MAX_SKEW_MS == 86_400_000
    assert MAX_ID == 2**53


in_time = st.integers(min_value=MIN_TIME_MS, max_value=MAX_TIME_MS - 1)
out_of_time = st.one_of(
    st.integers(min_value=0, max_value=MIN_TIME_MS - 1),
    st.integers(min_value=MAX_TIME_MS, max_value=2**64 - 1),
)


@given(in_time, st.integers(min_value=-(MAX_SKEW_MS - 1), max_value=MAX_SKEW_MS - 1))
def test_a_trade_time_in_the_window_close_to_its_event_time_is_accepted(t: int, d: int) -> None:
    e = min(max(t + d, MIN_TIME_MS), MAX_TIME_MS - 1)
    assert isinstance(_parse(T=t, E=e), Trade)


@given(out_of_time)
def test_a_trade_time_outside_2017_to_2100_is_rejected_as_out_of_range(t: int) -> None:
    assert _rejected_for(_parse(T=t, E=t), "range:T")


@given(out_of_time)
def test_an_event_time_outside_2017_to_2100_is_rejected_as_out_of_range(e: int) -> None:
    assert _rejected_for(_parse(E=e), "range:E")


def test_a_trade_time_in_nanoseconds_is_rejected() -> None:
    assert _rejected_for(_parse(T=GOOD["T"] * 1_000_000), "range:T")
    assert _rejected_for(_parse(T=2**63), "range:T")


@given(in_time, st.integers(min_value=MAX_SKEW_MS, max_value=10 * MAX_SKEW_MS), st.booleans())
def test_a_day_or_more_between_trade_and_event_time_is_rejected(
    t: int, d: int, ahead: bool
) -> None:
    e = t + d if ahead else t - d
    if MIN_TIME_MS <= e < MAX_TIME_MS:
        assert _rejected_for(_parse(T=t, E=e), "range:E-T")


@given(st.sampled_from(["a", "f", "l"]), st.integers(min_value=MAX_ID, max_value=2**64 - 1))
def test_an_id_of_2_to_the_53_or_more_is_rejected(key: str, value: int) -> None:
    changes: dict[str, object] = {key: value}
    if key == "f":
        changes["l"] = value
    event = _parse(**changes)
    assert _rejected_for(event, f"range:{'l' if key == 'f' else key}")


@given(st.integers(min_value=0, max_value=MAX_ID - 1), st.integers(min_value=0, max_value=5))
def test_ids_under_2_to_the_53_are_accepted(a: int, span: int) -> None:
    f = max(0, min(a, MAX_ID - 1 - span))
    assert isinstance(_parse(a=a, f=f, l=f + span), Trade)


def _fits_decimal128_38_18(text: str) -> bool:
    """What pyarrow's decimal128(38, 18) can hold exactly: the value scaled to 18 places
    has at most 38 digits and loses nothing."""
    scaled = Decimal(text).scaleb(18)
    return scaled == scaled.to_integral_value() and len(str(int(scaled))) <= 38


decimals = st.builds(
    lambda i, f: i if not f else f"{i}.{f}",
    st.text("0123456789", min_size=1, max_size=25),
    st.text("0123456789", min_size=0, max_size=25),
)


@given(decimals, st.sampled_from(["p", "q"]))
def test_a_decimal_is_accepted_exactly_when_it_fits_the_archive(text: str, key: str) -> None:
    event = _parse(**{key: text})
    whole, _, frac = text.partition(".")
    if len(frac) <= 18 and len(whole.lstrip("0")) <= 20:
        assert isinstance(event, Trade)
        assert _fits_decimal128_38_18(text)
    else:
        assert _rejected_for(event, f"precision:{key}")


def test_malformed_values_are_not_counted_as_out_of_range() -> None:
    event = _parse(p="1e5")
    assert isinstance(event, Rejection) and not event.out_of_range


def test_one_out_of_range_rest_trade_is_left_out_and_reported_the_others_kept() -> None:
    rows = [
        {**REST_GOOD, "a": 10, "T": GOOD["T"]},
        {**REST_GOOD, "a": 11, "T": GOOD["T"] * 1_000_000},
        {**REST_GOOD, "a": 12, "p": "1." + "1" * 19},
        {**REST_GOOD, "a": 13},
    ]
    rejected: list[Rejection] = []
    trades = parse_agg_trades("BTCUSDT", orjson.dumps(rows), rejected)
    assert [t.agg_id for t in trades] == [10, 13]
    assert [r.reason for r in rejected] == ["range:T", "precision:p"]
    assert all(r.out_of_range for r in rejected)
    # REST trades carry no E: only T is bounded
    assert parse_agg_trades("X", orjson.dumps([{**REST_GOOD, "T": MIN_TIME_MS}]))
