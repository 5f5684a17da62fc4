"""Replies that are not a well-formed exchange answer are transient: an HTML page with a
200, truncated JSON, a 4xx without a Binance ``{"code": int, "msg": str}`` body. Only a
well-formed answer (a JSON list, or an exchange error such as -1121) is final. A 403 (the
exchange's firewall) pauses every call at least 60 s."""

from __future__ import annotations

import httpx
import pytest
import trio

from orders_cli.errors import BadExchangeReply, ExchangeRejected, RateLimited
from orders_cli.sources.binance.wire import parse_agg_trades, parse_exchange_info
from tests.rest.test_client import REQ, Fake, client, ok

HTML = b"<html><body>502 Bad Gateway</body></html>"


@pytest.mark.parametrize(
    "body", [HTML, b'[{"a":1,"p":"1.0"', b"", b'{"a":1}', b'{"code":"x","msg":"y"}']
)
def test_a_page_that_is_not_an_exchange_answer_is_a_bad_reply(body: bytes) -> None:
    with pytest.raises(BadExchangeReply):
        parse_agg_trades("BTCUSDT", body)


def test_an_exchange_info_page_that_is_not_json_is_a_bad_reply() -> None:
    with pytest.raises(BadExchangeReply):
        parse_exchange_info(HTML)


def test_an_exchange_error_body_is_final() -> None:
    with pytest.raises(ExchangeRejected) as info:
        parse_agg_trades("BTCUSDT", b'{"code":-1121,"msg":"Invalid symbol."}')
    assert info.value.code == -1121


@pytest.mark.parametrize(("status", "body"), [(404, b""), (400, HTML), (401, b'{"x":1}')])
async def test_a_4xx_without_an_exchange_error_body_is_retried_with_backoff(
    autojump_clock: trio.abc.Clock, status: int, body: bytes
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(status, content=body) if n < 3 else ok(b"[]")

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(60):
            assert await rest.get(REQ) == b"[]"
    assert len(fake.times) == 3
    assert fake.times[2] > fake.times[1] > fake.times[0]


async def test_a_4xx_without_a_body_forever_ends_as_a_bad_reply(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(404, content=HTML)

    fake = Fake(answer)
    async with client(fake, max_attempts=3) as rest:
        with trio.fail_after(600), pytest.raises(BadExchangeReply, match="HTTP 404"):
            await rest.get(REQ)
    assert len(fake.times) == 3


@pytest.mark.parametrize("code", [-1000, -1001, -1007, -1008])
async def test_a_transient_exchange_error_code_is_retried(
    autojump_clock: trio.abc.Clock, code: int
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        body = b'{"code":%d,"msg":"busy"}' % code
        return httpx.Response(400, content=body) if n == 1 else ok(b"[]")

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(60):
            assert await rest.get(REQ) == b"[]"
    assert len(fake.times) == 2


async def test_a_403_pauses_every_call_at_least_60_s(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(403, content=b"<html>WAF</html>") if n <= 2 else ok(b"[]")

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(600):
            for _ in range(2):
                with pytest.raises(RateLimited, match="403") as info:
                    await rest.get(REQ)
                assert info.value.retry_after >= 60
            assert await rest.get(REQ) == b"[]"
    gaps = [b - a for a, b in zip(fake.times, fake.times[1:], strict=False)]
    assert all(g >= 60 for g in gaps), gaps
