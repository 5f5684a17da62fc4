"""exchangeInfo discovery falls back to no parameters when a server rejects them."""

from __future__ import annotations

import httpx
import orjson
import pytest
import trio
import trio.testing

from orders_cli.errors import ExchangeRejected
from orders_cli.pipeline.discovery import fetch_exchange_info
from orders_cli.rest.client import RestClient
from orders_cli.sources.registry import get_source

BODY = orjson.dumps({"timezone": "UTC", "serverTime": 1, "rateLimits": [], "symbols": []})


def _client(handler: httpx.MockTransport) -> RestClient:
    return RestClient("http://exchange.test", transport=handler, minute_offset=0.0)


async def test_rejected_permissions_are_dropped_once() -> None:
    seen: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        if "permissions" in request.url.params:
            return httpx.Response(400, json={"code": -1100, "msg": "Illegal characters"})
        return httpx.Response(200, content=BODY)

    with trio.fail_after(5):
        async with _client(httpx.MockTransport(handle)) as rest:
            assert await fetch_exchange_info(rest, get_source("spot")) == BODY
    assert "permissions" in seen[0] and seen[1] == {}


async def test_a_plain_request_that_fails_is_not_retried_forever() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."})

    with trio.fail_after(5), pytest.raises(ExchangeRejected):
        async with _client(httpx.MockTransport(handle)) as rest:
            await fetch_exchange_info(rest, get_source("spot"))
    assert calls == 2


async def test_an_ip_ban_is_waited_out(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(trio.current_time())
        if len(calls) == 1:
            return httpx.Response(
                418, headers={"Retry-After": "3"}, json={"code": -1003, "msg": "banned"}
            )
        return httpx.Response(200, content=BODY)

    with trio.fail_after(30):
        async with _client(httpx.MockTransport(handle)) as rest:
            assert await fetch_exchange_info(rest, get_source("spot")) == BODY
    assert len(calls) == 2 and calls[1] - calls[0] >= 3
