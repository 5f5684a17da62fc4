"""The plug-in seam: what a live trade source must provide.

A source knows its URLs, limits, how to list symbols, how to shard streams over
connections, how to subscribe, and how to parse a raw frame (pure, synchronous, unknown
keys ignored). The pipeline knows nothing exchange-specific beyond this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from orders_cli.models import Event, Rejection, SymbolInfo, Trade


@attrs.frozen(slots=True)
class SourceLimits:
    max_streams_per_connection: int = 1024
    max_messages_per_second: float = 5.0  # incoming control msgs the server tolerates
    connection_lifetime_s: float = 24 * 3600.0
    max_connects_per_5min: int = 300
    rest_weight_per_minute: int = 6000
    exchange_info_weight: int = 20
    agg_trades_weight: int = 4
    agg_trades_max_limit: int = 1000
    # the first aggregate id a brand-new listing gets (0 on spot, 1 on USD-M)
    first_agg_id: int = 0


@attrs.frozen(slots=True)
class RestRequest:
    path: str
    params: Mapping[str, str]
    weight: int


class Source(Protocol):
    """One live stream of one market (e.g. Binance spot ``@aggTrade``)."""

    @property
    def name(self) -> str: ...  # "spot", "usdm", ...

    @property
    def key_prefix(self) -> str: ...  # "" for spot, "usdm:" ...

    @property
    def limits(self) -> SourceLimits: ...

    @property
    def default_ws_url(self) -> str: ...

    @property
    def weight_pool(self) -> str:
        """The exchange's REST weight pool this market spends (markets of one pool share
        one budget and one ban: rest/pool.py)."""
        ...

    @property
    def rest_history_ms(self) -> int | None:
        """How far back REST ``aggTrades`` reaches (None: no limit): older ids are
        exchange-side, never to be fetched."""
        ...

    @property
    def default_rest_url(self) -> str: ...

    def stream_name(self, symbol: str) -> str:
        """The stream name for a symbol, e.g. ``btcusdt@aggTrade`` (not URL-encoded)."""
        ...

    def connect_url(self, ws_base: str, streams: Sequence[str]) -> str:
        """The URL to open a connection that carries ``streams`` from the handshake on
        (percent-encoded where needed). ``streams`` may be empty (subscribe later)."""
        ...

    def subscribe_message(self, streams: Sequence[str], request_id: int) -> str: ...

    def unsubscribe_message(self, streams: Sequence[str], request_id: int) -> str: ...

    def list_subscriptions_message(self, request_id: int) -> str:
        """A request whose reply's ``result`` lists the connection's streams (used to
        confirm SUBSCRIBE requests that got no reply)."""
        ...

    def parse(self, raw: str | bytes) -> list[Event]:
        """Pure: one raw frame -> events. Never raises on bad input: returns a Rejection."""
        ...

    def exchange_info_request(self, permissions: Sequence[str] | None = None) -> RestRequest:
        """exchangeInfo of every listed instrument; ``permissions=()`` = no filter
        parameter at all (the fallback for servers that reject it)."""
        ...

    def parse_exchange_info(self, body: bytes) -> list[SymbolInfo]: ...

    def simulator_id(self, body: bytes) -> str | None:
        """The simulator instance an exchangeInfo body says it comes from (``None``: the
        exchange itself). A store filled from a simulator holds demo data
        (``store/origin.py``)."""
        ...

    def parse_weight_limit(self, body: bytes) -> int | None:
        """The per-minute REST weight limit the exchangeInfo body advertises, if any."""
        ...

    def agg_trades_request(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1000,
    ) -> RestRequest: ...

    def parse_agg_trades(
        self, symbol: str, body: bytes, rejected: list[Rejection] | None = None
    ) -> list[Trade]:
        """REST aggTrades reply -> trades (``event_time`` = ``trade_time``). Raises
        ``ExchangeRejected`` on a malformed body; trades out of a storable trade's range
        are left out and appended to ``rejected``."""
        ...
