"""Domain value types. Frozen, exact (prices are decimal strings as sent, never float).

Wire shapes (Binance's one-letter keys) live in ``sources/<name>/wire.py``; this module
knows nothing of them.
"""

from __future__ import annotations

from decimal import Decimal

import attrs


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
    """A frame that could not be understood. Counted, sampled, never fatal."""

    reason: str
    raw: str


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
