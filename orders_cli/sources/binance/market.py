"""One Binance market as a ``Source``: the parts that differ between spot, USD-M and
COIN-M are plain data (paths, URLs, limits, REST time-window rules); the wire format and
URL forms are shared (``wire.py``, ``urls.py``). A new market is one new instance.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import orjson

from orders_cli.models import Event, Rejection, SymbolInfo, Trade
from orders_cli.sources.base import RestRequest, SourceLimits
from orders_cli.sources.binance import urls, wire


@attrs.frozen(slots=True)
class BinanceMarket:
    """A Binance ``@aggTrade`` source. Satisfies ``orders_cli.sources.base.Source``."""

    name: str
    key_prefix: str
    limits: SourceLimits
    default_ws_url: str
    default_rest_url: str
    api_prefix: str  # "/api/v3", "/fapi/v1", "/dapi/v1"
    # the REST weight pool of one IP (docs/binance.md §3.4): "spot" alone; USD-M and
    # COIN-M share "futures" (2,400/min together)
    weight_pool: str
    # the routed WebSocket path of aggTrade, appended to whatever host base is used
    # (``--ws-url`` or the default): "/market" on USD-M (docs/binance.md §1.1)
    ws_route: str = ""
    # futures: if both startTime and endTime are sent the span must be < 1 h (-1127)
    max_time_window_ms: int | None = None
    # futures: "fromId + time may time out - send one or the other"
    from_id_excludes_time: bool = False
    # futures: REST ``aggTrades`` keeps only this much history (docs/binance.md §3.3); an
    # id older than it is unrecoverable from REST (None: no such limit, spot)
    rest_history_ms: int | None = None
    # spot only: the ``permissions`` filter of exchangeInfo (empty = send none)
    exchange_info_permissions: tuple[str, ...] = ()

    # --- streams ------------------------------------------------------------------------
    def stream_name(self, symbol: str) -> str:
        return urls.stream_name(symbol)

    def connect_url(self, ws_base: str, streams: Sequence[str]) -> str:
        return urls.connect_url(ws_base, streams, route=self.ws_route)

    def max_streams_in_url(self, ws_base: str, streams: Sequence[str]) -> int:
        """How many of ``streams`` fit in one handshake URL (< 8 KB)."""
        return min(
            self.limits.max_streams_per_connection,
            urls.max_streams_in_url(ws_base, streams, route=self.ws_route),
        )

    def subscribe_message(self, streams: Sequence[str], request_id: int) -> str:
        return urls.subscribe_message(streams, request_id)

    def unsubscribe_message(self, streams: Sequence[str], request_id: int) -> str:
        return urls.unsubscribe_message(streams, request_id)

    def list_subscriptions_message(self, request_id: int) -> str:
        return urls.list_subscriptions_message(request_id)

    def parse(self, raw: str | bytes) -> list[Event]:
        return wire.parse_frame(raw)

    # --- REST ---------------------------------------------------------------------------
    def exchange_info_request(self, permissions: Sequence[str] | None = None) -> RestRequest:
        """exchangeInfo for every listed instrument.

        Spot hides symbols whose permission sets hold only ``TRD_GRP_*`` groups unless
        ``permissions`` names them (docs/binance.md §3.2; Binance: "to display all permissions
        you need to specify them explicitly"). So the spot request sends ``permissions``
        as a JSON array of every name in the official enum (``SPOT``, ``MARGIN``,
        ``LEVERAGED``, ``TRD_GRP_002``..``TRD_GRP_025``). We send only documented names:
        an unknown name risks a -1100 that would cost the whole universe. The enum grows;
        discovery may pass ``permissions`` = the default plus ``wire.permissions_seen(body)``
        of a previous reply to widen the next call. Futures take no parameters.
        """
        names = self.exchange_info_permissions if permissions is None else tuple(permissions)
        params = {"permissions": orjson.dumps(list(names)).decode()} if names else {}
        return RestRequest(
            path=f"{self.api_prefix}/exchangeInfo",
            params=params,
            weight=self.limits.exchange_info_weight,
        )

    def parse_weight_limit(self, body: bytes) -> int | None:
        return wire.request_weight_limit(body)

    def parse_exchange_info(self, body: bytes) -> list[SymbolInfo]:
        return wire.parse_exchange_info(body)

    def simulator_id(self, body: bytes) -> str | None:
        return wire.simulator_id(body)

    def agg_trades_request(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1000,
    ) -> RestRequest:
        """``aggTrades`` page. ``fromId`` is inclusive. On futures a time span longer than
        allowed is clamped (``end_time`` = ``start_time`` + window - 1: the caller pages
        on by ``fromId``), and ``from_id`` with a time bound raises ``ValueError``."""
        if not 1 <= limit <= self.limits.agg_trades_max_limit:
            raise ValueError(f"limit must be 1..{self.limits.agg_trades_max_limit}: {limit}")
        has_time = start_time is not None or end_time is not None
        if self.from_id_excludes_time and from_id is not None and has_time:
            raise ValueError(f"{self.name}: send from_id or a time bound, not both")
        window = self.max_time_window_ms
        if window is not None and start_time is not None and end_time is not None:
            end_time = min(end_time, start_time + window - 1)
        params: dict[str, str] = {"symbol": symbol, "limit": str(limit)}
        if from_id is not None:
            params["fromId"] = str(from_id)
        if start_time is not None:
            params["startTime"] = str(start_time)
        if end_time is not None:
            params["endTime"] = str(end_time)
        return RestRequest(
            path=f"{self.api_prefix}/aggTrades",
            params=params,
            weight=self.limits.agg_trades_weight,
        )

    def parse_agg_trades(
        self, symbol: str, body: bytes, rejected: list[Rejection] | None = None
    ) -> list[Trade]:
        return wire.parse_agg_trades(symbol, body, rejected)
