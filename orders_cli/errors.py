"""The one exception tree of orders. Lower layers map library errors into these at the
boundary; the CLI maps these to exit codes (see man/orders.1).

Names say what the caller should do about it.
"""

from __future__ import annotations


class OrdersError(Exception):
    """Base of every error orders raises on purpose."""

    exit_code = 1


class UsageError(OrdersError):
    """The user asked for something that cannot work (bad option, bad URL, port in use)."""

    exit_code = 2


class KeyspaceInUse(UsageError):
    """Another running ingester writes to the keys this run would have to clear: stop it,
    or pick another ``--namespace`` / ``--redis-url``."""


class RedisUnavailable(OrdersError):
    """Redis cannot be reached or refused us; retry later or fix the URL."""

    exit_code = 3


class ExchangeUnavailable(OrdersError):
    """The exchange (REST or WebSocket) cannot be reached; retry with backoff."""

    exit_code = 4


class BadExchangeReply(ExchangeUnavailable):
    """A reply that is not a well-formed exchange answer (an HTML page from a CDN, truncated
    JSON, a 4xx without a Binance ``{"code": int, "msg": str}`` body): something between us
    and the exchange failed. Retry with backoff; never read it as "no trades"."""


class RateLimited(ExchangeUnavailable):
    """HTTP 429 (or a 403 from the exchange's firewall): wait ``retry_after`` seconds
    before the next REST call."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IpBanned(RateLimited):
    """HTTP 418: stop every REST call until the ban ends (``retry_after`` seconds)."""


class ExchangeRejected(OrdersError):
    """The exchange answered with an error body (``{"code": -1121, "msg": ...}``): do not
    retry the same request."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class StateConflict(OrdersError):
    """Another writer changed a symbol's state under us; reload and recompute."""
