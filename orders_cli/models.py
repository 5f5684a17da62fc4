"""Domain value types. Frozen, exact (prices are decimal strings as sent, never float).

Wire shapes (Binance's one-letter keys) live in ``sources/<name>/wire.py``; this module
knows nothing of them.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

# The trade times a stored trade can have, whatever the host clock says: 2017-01-01 (before
# Binance existed) to 2100-01-01 (a T in µs or ns lands far above), in ms.
MIN_TIME_MS = 1_483_228_800_000
MAX_TIME_MS = 4_102_444_800_000


@attrs.frozen(slots=True)
class Trade:
    """One aggregate trade, as the exchange sent it.

    ``price`` and ``quantity`` are the exact decimal strings of the wire (trailing zeros
    kept): they are stored byte for byte. ``event_time`` is ``E`` for a live trade and
    ``trade_time`` for a REST-sourced one (REST has no ``E``).
    """

    symbol: str
    agg_id: int
    price: str
    quantity: str
    first_trade_id: int
    last_trade_id: int
    trade_time: int
    is_buyer_maker: bool
    event_time: int
    event_type: str = "aggTrade"

    @property
    def price_d(self) -> Decimal:
        return Decimal(self.price)

    @property
    def quantity_d(self) -> Decimal:
        return Decimal(self.quantity)

    @property
    def fills(self) -> int:
        return self.last_trade_id - self.first_trade_id + 1


# The parsers build one Trade per received frame: attrs' frozen __init__ goes through
# object.__setattr__ once per field (about 1.1 µs positional, 1.5 µs with keywords on the
# bench box); calling each slot's own descriptor is about 0.25 µs less. Trade has no
# validators, converters or __attrs_post_init__ (tests/test_models.py checks that, and that
# this function's parameters are Trade's fields in order), so both build equal objects.
_new = object.__new__
_d = Trade.__dict__
_set_symbol = _d["symbol"].__set__
_set_agg_id = _d["agg_id"].__set__
_set_price = _d["price"].__set__
_set_quantity = _d["quantity"].__set__
_set_first_trade_id = _d["first_trade_id"].__set__
_set_last_trade_id = _d["last_trade_id"].__set__
_set_trade_time = _d["trade_time"].__set__
_set_is_buyer_maker = _d["is_buyer_maker"].__set__
_set_event_time = _d["event_time"].__set__
_set_event_type = _d["event_type"].__set__
del _d


def new_trade(
    symbol: str,
    agg_id: int,
    price: str,
    quantity: str,
    first_trade_id: int,
    last_trade_id: int,
    trade_time: int,
    is_buyer_maker: bool,
    event_time: int,
    event_type: str = "aggTrade",
) -> Trade:
    """``Trade(...)`` for the parsers' hot path: the same object, built by setting the
    slots directly. Positional arguments, no checks (like ``Trade`` itself)."""
    t: Trade = _new(Trade)
    _set_symbol(t, symbol)
    _set_agg_id(t, agg_id)
    _set_price(t, price)
    _set_quantity(t, quantity)
    _set_first_trade_id(t, first_trade_id)
    _set_last_trade_id(t, last_trade_id)
    _set_trade_time(t, trade_time)
    _set_is_buyer_maker(t, is_buyer_maker)
    _set_event_time(t, event_time)
    _set_event_type(t, event_type)
    return t


@attrs.frozen(slots=True)
class SymbolInfo:
    """One listed instrument of a market (from exchangeInfo)."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


@attrs.frozen(slots=True)
class ServerShutdown:
    """The exchange announced it will close this connection soon (spot ``serverShutdown``)."""

    event_time: int


@attrs.frozen(slots=True)
class ControlReply:
    """A reply to one of our control requests (SUBSCRIBE, LIST_SUBSCRIPTIONS, ...)."""

    request_id: int | str | None
    result: object
    error_code: int | None = None
    error_msg: str | None = None


@attrs.frozen(slots=True)
class Rejection:
    """A frame that could not be understood, or whose values are out of the range a trade
    can have (``out_of_range``: counted apart). Counted, sampled, never fatal."""

    reason: str
    raw: str
    out_of_range: bool = False


@attrs.frozen(slots=True)
class Ignored:
    """A well-formed frame that is not ours to store (another event type, a non-market
    trade such as insurance fund / ADL). Counted by ``reason``."""

    reason: str


Event = Trade | ServerShutdown | ControlReply | Rejection | Ignored


@attrs.frozen(slots=True)
class Gap:
    """A hole of missing aggregate ids ``[first, last]`` (inclusive) of one symbol.

    ``exchange_side`` marks a hole that the exchange's REST does not have either: it is
    recorded, reported apart, and never retried.
    """

    first: int
    last: int
    opened_ms: int
    exchange_side: bool = False
    # a cold-start gap: "everything before the first id we saw"; its lower bound is not
    # known until the backfill finds the first trade inside the retention window
    cold: bool = False

    @property
    def size(self) -> int:
        return self.last - self.first + 1
