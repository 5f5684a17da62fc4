"""exchangeInfo, robustly: ask for every permission set (so ``TRD_GRP_*``-only pairs are
not hidden); a server that rejects that parameter is asked again without it."""

from __future__ import annotations

import logging

from orders_cli.errors import ExchangeRejected, RateLimited
from orders_cli.rest.client import RestClient
from orders_cli.sources.base import Source

log = logging.getLogger("orders.discovery")


BAN_RETRIES = 5


async def fetch_exchange_info(rest: RestClient, source: Source) -> bytes:
    """A 418 ban (or 429s past the client's own retries) is waited out a few times: the
    client holds every call until the ban ends, so asking again is safe."""
    for attempt in range(BAN_RETRIES):
        try:
            return await _fetch(rest, source)
        except RateLimited as exc:
            if attempt == BAN_RETRIES - 1:
                raise
            log.warning("exchangeInfo: %s; asking again once the ban ends", exc)
    raise AssertionError("unreachable")


async def _fetch(rest: RestClient, source: Source) -> bytes:
    req = source.exchange_info_request()
    try:
        return await rest.get(req)
    except ExchangeRejected as exc:
        if not req.params:
            raise
        log.warning("exchangeInfo with %s rejected (%s): asking without it", list(req.params), exc)
        return await rest.get(source.exchange_info_request(permissions=()))
