"""The pure frame parser: fixture fidelity, every malformed kind -> Rejection, never raises."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.models import ControlReply, Ignored, Rejection, ServerShutdown, Trade
from orders_cli.sources.binance.wire import (
    LIVE_KEYS,
    MAX_SKEW_MS,
    MAX_TIME_MS,
    MIN_TIME_MS,
    check_core,
    parse_frame,
)
from tests.datafiles import BINANCE

FIXTURES = BINANCE
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
    "M": True,
}


def _frame(d: object, combined: bool = False) -> bytes:
    return orjson.dumps({"stream": "btcusdt@aggTrade", "data": d} if combined else d)


def _only(raw: str | bytes) -> object:
    events = parse_frame(raw)
    assert len(events) == 1
    return events[0]


def _reason(d: object) -> str:
    ev = _only(_frame(d))
    assert isinstance(ev, Rejection), ev
    return ev.reason


@pytest.mark.parametrize("market", ["spot", "usdm", "coinm"])
def test_every_fixture_frame_matches_its_raw_json(market: str) -> None:
    lines = (FIXTURES / f"{market}-aggTrade-frames.jsonl").read_bytes().splitlines()
    assert lines
    for line in lines:
        data = orjson.loads(line)["data"]
        t = _only(line)
        assert isinstance(t, Trade)
        assert t.symbol == data["s"]
        assert t.agg_id == data["a"]
        assert t.first_trade_id == data["f"]
        assert t.last_trade_id == data["l"]
        assert t.trade_time == data["T"]
        assert t.event_time == data["E"]
        assert t.is_buyer_maker is data["m"]
        # strings byte-equal to the wire text (trailing zeros kept)
        assert f'"p":"{t.price}"'.encode() in line
        assert f'"q":"{t.quantity}"'.encode() in line
        assert t.price == data["p"] and t.quantity == data["q"]


def test_raw_and_combined_and_str_input_agree() -> None:
    raw = _only(_frame(GOOD))
    assert raw == _only(_frame(GOOD, combined=True))
    assert raw == _only(_frame(GOOD).decode())
    assert isinstance(raw, Trade) and raw.price == "58001.03000000"


def test_unknown_keys_are_ignored() -> None:
    t = _only(_frame({**GOOD, "nq": "1.0", "st": 1, "zz": [1, 2]}))
    assert isinstance(t, Trade)


@pytest.mark.parametrize("key", LIVE_KEYS)
def test_missing_each_field(key: str) -> None:
    d = dict(GOOD)
    del d[key]
    reason = _reason(d)
    # a frame without "e" is not an event at all
    assert reason == ("unknown_shape" if key == "e" else f"missing:{key}")


WRONG_TYPES: list[tuple[str, object]] = [
    *((k, v) for k in "aflTE" for v in (True, 1.0, "1", None, [1])),
    *((k, v) for k in "pq" for v in (1, 1.5, None, True)),
    ("m", 1),
    ("m", "true"),
    ("m", None),
    ("s", 5),
    ("s", None),
]


@pytest.mark.parametrize(("key", "value"), WRONG_TYPES)
def test_wrong_type_of_each_field(key: str, value: object) -> None:
    assert _reason({**GOOD, key: value}) == f"type:{key}"


@pytest.mark.parametrize(
    "bad",
    [
        *("1e5", "NaN", "-1", "", "1.", ".5", "+1", "1,0", " 1", "1 ", "Infinity", "١٢", "0x1"),
        # the parser checks price and quantity as one "p NUL q" string: a NUL must not pass
        *("1\x002", "\x00", "1\x00", "\x001", "1.5\x000.5"),
    ],
)
@pytest.mark.parametrize("key", ["p", "q"])
def test_bad_decimals(key: str, bad: str) -> None:
    assert _reason({**GOOD, key: bad}) == f"bad_decimal:{key}"


def test_range_and_order_rules() -> None:
    assert _reason({**GOOD, "f": 10, "l": 9}) == "order:f>l"
    assert _reason({**GOOD, "a": -1}) == "range:a"
    assert _reason({**GOOD, "s": ""}) == "empty:s"
    assert _reason({**GOOD, "f": -1, "l": 0}) == "range:f"
    assert _reason({**GOOD, "T": -1}) == "range:T"
    assert _reason({**GOOD, "a": -1, "p": "x"}) == "range:a"  # the first broken rule wins
    assert _reason({**GOOD, "s": 1, "E": "x"}) == "type:s"
    assert _reason({**GOOD, "E": "x", "a": -1}) == "type:E"
    assert _reason({**GOOD, "q": "x", "f": 2, "l": 1}) == "bad_decimal:q"
    assert _reason({**GOOD, "f": 2, "l": 1, "T": -1, "m": 0}) == "order:f>l"
    assert isinstance(_only(_frame({**GOOD, "f": 9, "l": 9})), Trade)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "bad_json"),
        (b'{"e":"aggTrade","E":1', "bad_json"),
        (b"\xff\xfe\x00garbage", "bad_json"),
        (b"[1,2]", "not_object"),
        (b'"aggTrade"', "not_object"),
        (b"null", "not_object"),
        (b"{}", "unknown_shape"),
        (b'{"stream":"x","data":[1]}', "type:data"),
        (b'{"e":5}', "type:e"),
        (b'{"result":null,"id":[1]}', "type:id"),
        (b'{"code":"2","msg":"x","id":1}', "type:code"),
        (b'{"e":"serverShutdown"}', "missing:E"),
        (b'{"e":"serverShutdown","E":"1"}', "type:E"),
    ],
)
def test_malformed_frames(raw: bytes, reason: str) -> None:
    ev = _only(raw)
    assert isinstance(ev, Rejection)
    assert ev.reason == reason


def test_truncated_fixture_lines_are_rejected() -> None:
    line = (FIXTURES / "spot-aggTrade-frames.jsonl").read_bytes().splitlines()[0]
    for cut in range(len(line) - 1):
        ev = _only(line[:cut])
        assert isinstance(ev, Rejection), cut


def test_rejection_keeps_a_bounded_text_sample() -> None:
    ev = _only(b"\xff" + b"x" * 10_000)
    assert isinstance(ev, Rejection)
    assert 0 < len(ev.raw) <= 2048


def test_non_market_and_other_events_are_ignored() -> None:
    assert _only(_frame({**GOOD, "X": "INSURANCE_FUND"})) == Ignored("non_market:INSURANCE_FUND")
    assert _only(_frame({**GOOD, "X": "ADL"}, combined=True)) == Ignored("non_market:ADL")
    assert isinstance(_only(_frame({**GOOD, "X": "MARKET"})), Trade)
    assert _reason({**GOOD, "X": 3}) == "type:X"
    assert _only(b'{"e":"trade","E":1}') == Ignored("event:trade")
    assert _only(_frame({"e": "kline"}, combined=True)) == Ignored("event:kline")


def test_server_shutdown_raw_and_combined() -> None:
    raw = b'{"e":"serverShutdown","E":1779000000000}'
    combined = b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1779000000000}}'
    assert _only(raw) == ServerShutdown(event_time=1779000000000)
    assert _only(combined) == ServerShutdown(event_time=1779000000000)


def test_control_replies_and_errors() -> None:
    assert _only(b'{"result":null,"id":1}') == ControlReply(request_id=1, result=None)
    assert _only(b'{"result":["btcusdt@aggTrade"],"id":3}') == ControlReply(
        request_id=3, result=["btcusdt@aggTrade"]
    )
    uuid = "0b9f4c3e-1a2b-4c5d-8e9f-0123456789ab"
    assert _only(f'{{"result":true,"id":"{uuid}"}}') == ControlReply(request_id=uuid, result=True)
    assert _only(b'{"result":null,"id":null}') == ControlReply(request_id=None, result=None)
    err = _only(b'{"code":2,"msg":"Invalid request: too many parameters","id":7}')
    assert err == ControlReply(
        request_id=7, result=None, error_code=2, error_msg="Invalid request: too many parameters"
    )
    assert _only(b'{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}') == (
        ControlReply(
            request_id=None,
            result=None,
            error_code=3,
            error_msg="Invalid JSON: expected value at line 1 column 1",
        )
    )


def test_non_ascii_symbol_round_trip() -> None:
    t = _only(_frame({**GOOD, "s": "币安人生USDT"}))
    assert isinstance(t, Trade) and t.symbol == "币安人生USDT"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=3), kids, max_size=4)
    ),
    max_leaves=8,
)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    for ev in parse_frame(raw):
        assert isinstance(ev, Trade | ServerShutdown | ControlReply | Rejection | Ignored)


@given(json_values)
def test_arbitrary_json_never_raises(value: object) -> None:
    parse_frame(orjson.dumps(value))


@given(st.dictionaries(st.sampled_from([*LIVE_KEYS, "X", "id", "result", "code"]), json_values))
def test_mutated_trade_frames_never_raise(patch: dict[str, object]) -> None:
    events = parse_frame(_frame({**GOOD, **patch}, combined=True))
    assert len(events) == 1
    ev = events[0]
    if isinstance(ev, Trade):  # whatever got through is well-typed
        assert type(ev.agg_id) is int and type(ev.is_buyer_maker) is bool
        assert ev.first_trade_id <= ev.last_trade_id
    expected = _reference_trade_event({**GOOD, **patch})
    if expected is not None:  # None: no "e", not an event (a control reply or unknown_shape)
        assert (Rejection(ev.reason, "") if isinstance(ev, Rejection) else ev) == expected


# values that pass or break each rule (type, range, order, decimal form, X)
EDGE_VALUES: tuple[object, ...] = (-1, 0, 1, 2, True, 1.0, None, "1", "0.5", "1.", "1\x002", "")


def test_fast_path_agrees_with_the_rules_one_at_a_time() -> None:
    keys = [*LIVE_KEYS[1:], "X"]
    patches = [{k: v} for k in keys for v in EDGE_VALUES]
    patches += [
        {k1: v1, k2: v2}
        for i, k1 in enumerate(keys)
        for k2 in keys[i + 1 :]
        for v1 in EDGE_VALUES
        for v2 in EDGE_VALUES
    ]
    for patch in patches:
        d = {**GOOD, **patch}
        ev = _only(_frame(d, combined=True))
        got = Rejection(ev.reason, "") if isinstance(ev, Rejection) else ev
        assert got == _reference_trade_event(d), patch


def _reference_trade_event(d: dict[str, Any]) -> object:
    """The rules of an aggTrade one at a time, in the documented order (the parser checks
    the valid case in one expression and walks the rules only on failure)."""
    for k in LIVE_KEYS:
        if k not in d:
            return Rejection(f"missing:{k}", "") if k != "e" else None
    if d["e"] != "aggTrade":
        return Ignored(f"event:{d['e']}") if type(d["e"]) is str else Rejection("type:e", "")
    x = d.get("X")
    if x is not None and x != "MARKET":
        return Ignored(f"non_market:{x[:40]}") if type(x) is str else Rejection("type:X", "")
    if type(d["s"]) is not str:
        return Rejection("type:s", "")
    if not d["s"]:
        return Rejection("empty:s", "")
    if type(d["E"]) is not int:
        return Rejection("type:E", "")
    reason = check_core(d)
    if reason is not None:
        return Rejection(reason, "")
    if not MIN_TIME_MS <= d["E"] < MAX_TIME_MS:
        return Rejection("range:E", "")
    if not abs(d["T"] - d["E"]) < MAX_SKEW_MS:
        return Rejection("range:E-T", "")
    return Trade(d["s"], d["a"], d["p"], d["q"], d["f"], d["l"], d["T"], d["m"], event_time=d["E"])


def test_error_reply_wrapped_in_an_error_object() -> None:
    """Binance spot streams have been seen answering a bad SUBSCRIBE with the error inside
    an ``error`` object (``{"error":{"code":2,"msg":"Invalid request: invalid stream"},
    "id":2}``, ctubio/Krypto-trading-bot#1121): it is the reply to request 2, an error."""
    raw = b'{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}'
    assert _only(raw) == ControlReply(
        request_id=2, result=None, error_code=2, error_msg="Invalid request: invalid stream"
    )
    assert _only(b'{"id":null,"error":{"code":3,"msg":"Invalid JSON"}}') == ControlReply(
        request_id=None, result=None, error_code=3, error_msg="Invalid JSON"
    )
    assert _reason({"error": {"code": "2", "msg": "x"}, "id": 2}) == "type:code"
    assert _reason({"error": "bad", "id": 2}) == "type:error"
    assert _reason({"error": {"msg": "no code"}, "id": 2}) == "missing:code"


def test_reply_without_result_key_is_a_success() -> None:
    """A server that leaves out null fields answers SUBSCRIBE with ``{"id":1}``: that is
    the (successful, ``result: null``) reply to request 1, not a malformed frame."""
    assert _only(b'{"id":1}') == ControlReply(request_id=1, result=None)
