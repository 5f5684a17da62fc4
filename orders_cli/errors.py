"""The one exception tree of orders. Lower layers map library errors into these at the
boundary; the CLI maps these to exit codes (see man/orders.1).

Names say what the caller should do about it. :func:`orders_error_in` picks one out of
the exception groups trio's nurseries raise.
"""

from __future__ import annotations

from collections.abc import Iterator


class OrdersError(Exception):
    """Base of every error orders raises on purpose."""

    exit_code = 1


class UsageError(OrdersError):
    """The user asked for something that cannot work (bad option, bad URL, port in use)."""

    exit_code = 2


class KeyspaceInUse(UsageError):
    """Another running ingester writes to the keys this run would have to clear: stop it,
    or pick another ``--namespace`` / ``--redis-url``."""


class StoreNotReplaced(UsageError):
    """A run would have to delete data it did not write (demo data, or another
    simulation's) and was not allowed to: pass ``--replace-store``, answer yes on the
    terminal, run ``orders reset``, or pick another ``--namespace``."""


class StoreLayoutUnknown(UsageError):
    """The Redis holds orders data in a key layout this release does not know: use the
    release that wrote it, or another namespace / Redis."""


class RedisUnavailable(OrdersError):
    """Redis cannot be reached or refused us; retry later or fix the URL."""

    exit_code = 3


class RedisRefusing(RedisUnavailable):
    """Redis answers but refuses writes for now (``reason``: OOM, READONLY, MISCONF,
    LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN): keep what is to be written and
    retry with backoff; the operator frees memory, fixes persistence or the failover."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class RedisRejected(OrdersError):
    """Redis answered one command with an error that retrying the same command will not
    fix (``ERR``, ``WRONGTYPE``...): do not retry it as it is."""

    exit_code = 3

    def __init__(self, message: str, code: str = "ERR") -> None:
        super().__init__(message)
        self.code = code


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


class WeightDeferred(OrdersError):
    """A speculative REST call (a head check, a cold start's page) would wait for the next
    weight window: its share of this one is spent. It was not sent; queue it again for
    ``retry_after`` seconds from now, so that it holds neither a slot nor its symbol
    (a gap in that symbol is filled meanwhile, from the share kept for gap fills)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeRejected(OrdersError):
    """The exchange answered with an error body (``{"code": -1121, "msg": ...}``): do not
    retry the same request."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class StateConflict(OrdersError):
    """Another writer changed a symbol's state under us; reload and recompute."""


class MalformedHealthRecord(OrdersError):
    """A health key holds a record this ``orders status`` cannot read (not JSON, another
    version, a foreign writer): fix or delete that key."""


class LockHeld(OrdersError):
    """Another prune holds the lock; try again later (EX_TEMPFAIL)."""

    exit_code = 75


class ArchiveUnavailable(UsageError):
    """``--archive`` needs pyarrow: ``pip install 'orders[archive]'``."""


class ArchiveError(OrdersError):
    """An archive file could not be written or read; nothing was deleted for it."""


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` itself, or every non-group exception inside (nested) exception groups, in
    order."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def orders_error_in(exc: BaseException) -> OrdersError | None:
    """The first :class:`OrdersError` in ``exc`` (itself or inside nested groups), else
    None."""
    return next((leaf for leaf in leaves(exc) if isinstance(leaf, OrdersError)), None)
