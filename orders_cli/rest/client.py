"""Async REST client (trio, httpx): weight budget, 429/418 discipline, bounded retries.

Policy of ``get`` (callers never see httpx exceptions):

- before each call, wait while banned (418), paused (429 ``Retry-After``) or while the
  call would pass ``target_fraction`` of the minute's weight (a speculative call that
  would wait for the next minute raises ``WeightDeferred`` instead: the caller queues it
  again); after each reply adopt ``X-MBX-USED-WEIGHT-1M`` as the truth;
- 5xx, timeouts and connection errors: retry with capped exponential backoff and jitter,
  ``max_attempts`` in all, then ``ExchangeUnavailable``;
- 429: every call pauses ``Retry-After`` seconds, then this one retries (at most
  ``max_rate_limit_retries`` times, then ``RateLimited``);
- 418: ``banned_until`` is set and this call raises ``IpBanned``; no call is sent until
  the ban ends (later calls wait);
- 403 (the exchange's firewall, which may escalate to 418): every call pauses at least
  60 s (``FORBIDDEN_WAITS``: doubling on 403s in a row, up to 8 minutes) and this one
  raises ``RateLimited``;
- other 4xx with the exchange's error body ``{"code": int, "msg": str}``:
  ``ExchangeRejected(msg, code, status)``, no retry, unless the code says the exchange was
  busy (``RETRY_CODES``: retried like a 5xx);
- a 4xx without that body is not the exchange's answer (a proxy, a CDN): retried like a
  5xx, then ``BadExchangeReply``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from types import TracebackType
from typing import Self

import httpx
import orjson
import trio

from orders_cli.errors import (
    BadExchangeReply,
    ExchangeRejected,
    ExchangeUnavailable,
    IpBanned,
    RateLimited,
    UsageError,
    WeightDeferred,
)
from orders_cli.rest.budget import WeightBudget
from orders_cli.rest.pool import RestPool
from orders_cli.retry import RetryPolicy
from orders_cli.sources.base import RestRequest
from orders_cli.telemetry import Telemetry

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
log = logging.getLogger(__name__)

DEFAULT_429_WAIT = 60.0  # Retry-After missing on a 429
DEFAULT_418_WAIT = 120.0  # bans start at 2 minutes
# a 403: no call for at least a minute, doubling on 403s in a row up to 8 minutes
FORBIDDEN_WAITS = RetryPolicy(60.0, 480.0, jitter="none")
RETRY_CODES = frozenset({-1000, -1001, -1007, -1008})  # unknown, disconnected, timeout, busy


MAX_BAN_WAIT = 3 * 86400.0  # Binance's longest ban; a server asking for more is wrong


def _retry_after(resp: httpx.Response, default: float) -> float:
    """``Retry-After`` in seconds: missing -> ``default``; unreadable, infinite or beyond
    :data:`MAX_BAN_WAIT` -> capped there, and said (REST must never stop for good)."""
    raw = resp.headers.get("Retry-After")
    if raw is None:
        return default
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait) or wait > MAX_BAN_WAIT:
        log.warning(
            "REST: HTTP %d with Retry-After %r: waiting %g s instead (Binance's longest ban)",
            resp.status_code, raw[:40], MAX_BAN_WAIT,
        )  # fmt: skip
        return MAX_BAN_WAIT
    return max(0.0, wait)


def _rejected(path: str, resp: httpx.Response) -> ExchangeRejected | None:
    """The exchange's error answer in a 4xx, or None when the body is not one."""
    try:
        obj = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is dict and type(obj.get("code")) is int and type(obj.get("msg")) is str:
        return ExchangeRejected(f"{path}: {obj['msg']}", code=obj["code"], status=resp.status_code)
    return None


def _describe(resp: httpx.Response) -> str:
    text = resp.content[:200].decode("utf-8", "replace")
    return f"HTTP {resp.status_code} {text}".rstrip()


class RestClient:
    """One exchange host, one weight pool (shared or its own). Use as
    ``async with RestClient(...) as rest``."""

    def __init__(
        self,
        base_url: str,
        *,
        weight_limit_per_minute: int = 6000,
        target_fraction: float = 0.8,
        telemetry: Telemetry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        max_rate_limit_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        minute_offset: float | None = None,
        rng: random.Random | None = None,
        pool: RestPool | None = None,
    ) -> None:
        """``pool``: the weight pool this client shares with the clients of other markets
        (rest/pool.py); None: its own, of ``weight_limit_per_minute``."""
        if not 0 < target_fraction <= 1:
            raise ValueError(f"target_fraction must be in (0, 1]: {target_fraction}")
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": "orders/0.1"},
        )
        self._timeout = timeout
        self._telemetry = telemetry if telemetry is not None else Telemetry()
        if pool is None:
            budget = WeightBudget(weight_limit_per_minute, target_fraction, minute_offset or 0.0)
            # minute_offset None: align our windows with wall-clock minutes (on first use)
            pool = RestPool(budget, aligned=minute_offset is not None)
        self.pool = pool
        self._budget = pool.budget
        self._max_attempts = max(1, max_attempts)
        self._max_rate_limit_retries = max(0, max_rate_limit_retries)
        self._retry = RetryPolicy(backoff_base, backoff_cap, jitter="equal")
        self._rng = rng if rng is not None else random.Random()

    @property
    def used_weight(self) -> int:
        """Weight used in the current minute (header truth, or our estimate)."""
        now = trio.current_time()
        return self._budget.used if self._budget.minute(now) == self._budget.window else 0

    @property
    def banned_until(self) -> float | None:
        """Trio time a 418 ban of this client's pool ends (None: not banned)."""
        return self.pool.banned_until

    def set_weight_limit(self, limit: int) -> None:
        """Adopt the exchange's advertised REQUEST_WEIGHT per minute (exchangeInfo)."""
        self._budget.limit = max(1, limit)

    @property
    def weight_limit(self) -> int:
        return self._budget.limit

    @property
    def weight_share(self) -> int:
        """This client's share of the limit (all of it unless its pool is shared)."""
        return self.pool.share

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _wait_turn(self, weight: int, speculative: bool) -> None:
        if not self.pool.aligned:
            self.pool.aligned = True
            self._budget.minute_offset = time.time() - trio.current_time()
        while True:
            now = trio.current_time()
            if self.pool.banned_until is not None:
                if now < self.pool.banned_until:
                    await trio.sleep_until(self.pool.banned_until)
                    continue
                self.pool.banned_until = None
            if self.pool.paused_until is not None:
                if now < self.pool.paused_until:
                    await trio.sleep_until(self.pool.paused_until)
                    continue
                self.pool.paused_until = None
            delay = self._budget.delay(now, weight, speculative=speculative)
            if delay <= 0:
                self._budget.reserve(now, weight)
                return
            if speculative and not self._budget.fits_window(now, weight, speculative=True):
                self._telemetry.count("rest_deferred")
                raise WeightDeferred(f"speculative call deferred {delay:.1f} s", delay)
            self._telemetry.count("rest_weight_waits")
            await trio.sleep(delay)

    def _adopt(self, resp: httpx.Response) -> None:
        raw = resp.headers.get(USED_WEIGHT_HEADER)
        if raw is None:
            return
        try:
            used = int(raw)
        except ValueError:
            return
        if used >= 0:
            # our other calls in flight may have reached the exchange after this reply
            # was counted: without them, concurrent calls passed the cap (measured 4,816
            # in a 4,800 window); counting them twice at worst wastes a few calls' weight
            self._budget.adopt(trio.current_time(), used, self.pool.in_flight)

    async def _send(self, req: RestRequest) -> httpx.Response | str:
        """One HTTP exchange: the response, or why it failed transiently."""
        with trio.move_on_after(self._timeout) as scope:
            try:
                return await self._http.get(req.path, params=dict(req.params))
            except httpx.UnsupportedProtocol as exc:
                raise UsageError(f"bad REST URL: {exc}") from None
            except httpx.TimeoutException:
                return "timeout"
            except (httpx.TransportError, httpx.DecodingError) as exc:
                return f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:  # anything else httpx may raise: not retried
                raise ExchangeUnavailable(f"{req.path}: {type(exc).__name__}: {exc}") from None
        assert scope.cancelled_caught
        return "timeout"

    def _forbid(self, req: RestRequest, resp: httpx.Response) -> RateLimited:
        """A 403: the firewall may escalate to a ban; no call for at least a minute."""
        self._telemetry.count("rest_403")
        self.pool.forbidden += 1
        floor = FORBIDDEN_WAITS.ceiling(self.pool.forbidden - 1)
        wait = max(floor, _retry_after(resp, 0.0))
        until = trio.current_time() + wait
        self.pool.paused_until = max(self.pool.paused_until or until, until)
        return RateLimited(f"{req.path}: {_describe(resp)}; every call waits {wait:g} s", wait)

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        """The body of a 200 reply to ``GET req.path?req.params`` (see module policy).
        ``speculative``: a call that may find nothing to do (a head check, a cold start):
        it leaves the budget's share for gap fills (``budget.GAP_SHARE``) and raises
        ``WeightDeferred`` rather than wait for the next minute."""
        failures = 0
        limited = 0
        bad_reply = False
        while True:
            await self._wait_turn(req.weight, speculative)
            self._telemetry.count("rest_calls")
            self.pool.in_flight += req.weight
            try:
                outcome = await self._send(req)
            finally:
                self.pool.in_flight -= req.weight
            if isinstance(outcome, httpx.Response):
                resp = outcome
                self._adopt(resp)
                status = resp.status_code
                if status == 200:
                    self.pool.forbidden = 0
                    return resp.content
                if status == 429:
                    self._telemetry.count("rest_429")
                    wait = _retry_after(resp, DEFAULT_429_WAIT)
                    until = trio.current_time() + wait
                    self.pool.paused_until = max(self.pool.paused_until or until, until)
                    limited += 1
                    if limited > self._max_rate_limit_retries:
                        raise RateLimited(f"{req.path}: HTTP 429 {limited} times", wait)
                    continue
                if status == 418:
                    self._telemetry.count("rest_418")
                    wait = _retry_after(resp, DEFAULT_418_WAIT)
                    until = trio.current_time() + wait
                    self.pool.banned_until = max(self.pool.banned_until or 0.0, until)
                    raise IpBanned(f"{req.path}: HTTP 418, IP banned for {wait:g} s", wait)
                if status == 403:
                    raise self._forbid(req, resp)
                why = _describe(resp)
                if status < 500:
                    rejected = _rejected(req.path, resp)
                    if rejected is not None and rejected.code not in RETRY_CODES:
                        raise rejected
                    bad_reply = rejected is None
                    if bad_reply:
                        self._telemetry.count("rest_bad_replies")
            else:
                why = outcome
            failures += 1
            self._telemetry.count("rest_errors")
            if failures >= self._max_attempts:
                error = BadExchangeReply if bad_reply else ExchangeUnavailable
                raise error(f"{req.path}: {why} ({failures} attempts)")
            await trio.sleep(self._retry.delay(failures - 1, self._rng))
