"""exchangeInfo, robustly: ask for every permission set (so ``TRD_GRP_*``-only pairs are
not hidden); a server that rejects that parameter is asked again without it."""

from __future__ import annotations

import logging

from orders_cli.errors import ExchangeRejected
from orders_cli.rest.client import RestClient
from orders_cli.sources.base import Source

log = logging.getLogger("orders.discovery")


async def fetch_exchange_info(rest: RestClient, source: Source) -> bytes:
    req = source.exchange_info_request()
    try:
        return await rest.get(req)
    except ExchangeRejected as exc:
        if not req.params:
            raise
        log.warning("exchangeInfo with %s rejected (%s): asking without it", list(req.params), exc)
        return await rest.get(source.exchange_info_request(permissions=()))
