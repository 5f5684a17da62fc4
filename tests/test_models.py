"""models.new_trade: the parsers' fast Trade constructor builds the same object as Trade()."""

from __future__ import annotations

import inspect
import pickle

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_cli.models import Trade, new_trade

ints = st.integers(-(2**63), 2**64 - 1)
texts = st.text(max_size=12)


def test_parameters_are_the_fields_in_order_with_the_same_defaults() -> None:
    params = list(inspect.signature(new_trade).parameters.values())
    assert [p.name for p in params] == [f.name for f in attrs.fields(Trade)]
    defaults = [f.default for f in attrs.fields(Trade)]
    for p, default in zip(params, defaults, strict=True):
        assert p.default == (inspect.Parameter.empty if default is attrs.NOTHING else default)


def test_trade_has_nothing_new_trade_would_skip() -> None:
    # new_trade sets the slots directly: a validator, converter or post-init hook added to
    # Trade would be bypassed, so adding one must revisit new_trade
    assert all(f.validator is None and f.converter is None for f in attrs.fields(Trade))
    assert not hasattr(Trade, "__attrs_post_init__")
    assert not hasattr(Trade, "__attrs_pre_init__")


@given(texts, ints, texts, texts, ints, ints, ints, st.booleans(), ints, st.none() | texts)
def test_equal_to_the_attrs_constructor(
    symbol: str,
    agg_id: int,
    price: str,
    quantity: str,
    first: int,
    last: int,
    trade_time: int,
    maker: bool,
    event_time: int,
    event_type: str | None,
) -> None:
    args = (symbol, agg_id, price, quantity, first, last, trade_time, maker, event_time)
    extra = () if event_type is None else (event_type,)
    fast = new_trade(*args, *extra)
    slow = Trade(*args, *extra)
    assert type(fast) is Trade
    assert fast == slow and slow == fast
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert attrs.astuple(fast) == attrs.astuple(slow)
    for f in attrs.fields(Trade):  # every slot set, to the same object
        assert getattr(fast, f.name) is getattr(slow, f.name)
    assert pickle.loads(pickle.dumps(fast)) == slow


def test_still_frozen() -> None:
    t = new_trade("BTCUSDT", 1, "1.0", "2", 3, 3, 4, True, 5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.price = "9"  # type: ignore[misc]  # the point: assigning to a frozen field fails
    assert t == Trade("BTCUSDT", 1, "1.0", "2", 3, 3, 4, True, 5)
    assert t.event_type == "aggTrade"
