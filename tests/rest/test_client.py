"""RestClient against httpx.MockTransport fakes; trio's autojump clock (no real sleeping)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import httpx
import pytest
import trio

from orders_cli.errors import (
    ExchangeRejected,
    ExchangeUnavailable,
    IpBanned,
    RateLimited,
    UsageError,
    WeightDeferred,
)
from orders_cli.rest import RestClient
from orders_cli.rest.client import MAX_BAN_WAIT
from orders_cli.sources.base import RestRequest
from orders_cli.telemetry import Telemetry

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]
REQ = RestRequest(path="/api/v3/aggTrades", params={"symbol": "BTCUSDT", "fromId": "5"}, weight=4)


class Fake:
    """Records when each request arrived (trio time) and answers from a script."""

    def __init__(self, answer: Callable[[httpx.Request, int], Awaitable[httpx.Response]]):
        self.answer = answer
        self.times: list[float] = []
        self.urls: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(trio.current_time())
        self.urls.append(str(request.url))
        return await self.answer(request, len(self.times))


def ok(body: bytes = b"[]", used: int | None = None) -> httpx.Response:
    headers = {} if used is None else {"X-MBX-USED-WEIGHT-1M": str(used)}
    return httpx.Response(200, content=body, headers=headers)


def client(fake: Fake, **kw: object) -> RestClient:
    kw.setdefault("minute_offset", 0.0)
    kw.setdefault("rng", random.Random(1))
    return RestClient(
        "https://api.example",
        transport=httpx.MockTransport(fake),
        **kw,  # type: ignore[arg-type]  # test helper forwards keyword options
    )


async def test_returns_body_and_sends_params(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return ok(b'[{"a":1}]', used=7)

    fake = Fake(answer)
    telemetry = Telemetry()
    async with client(fake, telemetry=telemetry) as rest:
        with trio.fail_after(5):
            assert await rest.get(REQ) == b'[{"a":1}]'
        assert rest.used_weight == 7  # header adopted over our estimate of 4
    assert fake.urls == ["https://api.example/api/v3/aggTrades?symbol=BTCUSDT&fromId=5"]
    assert telemetry.counters["rest_calls"] == 1


async def test_budget_paces_calls_into_the_next_minute(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return ok()  # no header: our estimate stands

    fake = Fake(answer)
    # cap = 0.8 * 100 = 80 weight per minute -> 20 calls of weight 4, then wait
    async with client(fake, weight_limit_per_minute=100) as rest:
        with trio.fail_after(200):
            for _ in range(45):
                await rest.get(REQ)
    minutes = [int(t // 60) for t in fake.times]
    assert [minutes.count(m) for m in sorted(set(minutes))] == [20, 20, 5]
    assert fake.times[20] == pytest.approx(60.0)
    assert fake.times[40] == pytest.approx(120.0)


async def test_header_is_the_truth(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return ok(used=4790 if n == 1 else 1)  # another process spent most of the budget

    fake = Fake(answer)
    async with client(fake, weight_limit_per_minute=6000) as rest:  # cap 4800
        with trio.fail_after(200):
            await rest.get(REQ)
            assert rest.used_weight == 4790
            await rest.get(REQ)  # 4790 + 4 <= 4800: goes now
            await rest.get(REQ)  # header said 1: goes now too
            assert rest.used_weight == 1
    assert fake.times == [0.0, 0.0, 0.0]

    fake2 = Fake(answer)
    async with client(fake2, weight_limit_per_minute=6000) as rest:
        with trio.fail_after(200):
            await rest.get(REQ)
            await rest.get(RestRequest("/x", {}, weight=20))  # 4790 + 20 > 4800: waits
    assert fake2.times == [0.0, pytest.approx(60.0)]


async def test_a_speculative_call_past_its_share_is_deferred_unsent_and_a_gap_fill_goes(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return ok(used=560 if n == 1 else 564)  # head checks spent their 70 % of cap 800

    fake = Fake(answer)
    telemetry = Telemetry()
    async with client(fake, weight_limit_per_minute=1000, telemetry=telemetry) as rest:
        with trio.fail_after(5):
            await rest.get(REQ, speculative=True)
            with pytest.raises(WeightDeferred) as deferred:
                await rest.get(REQ, speculative=True)
            await rest.get(REQ)  # a gap fill: the share kept for it has weight
    assert deferred.value.retry_after == pytest.approx(60.0)
    assert fake.times == [0.0, 0.0]
    assert telemetry.counters["rest_deferred"] == 1


async def test_429_honours_retry_after_and_pauses_everyone(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"code": -1003})
        return ok(b"fine")

    fake = Fake(answer)
    telemetry = Telemetry()
    results: list[bytes] = []
    async with client(fake, telemetry=telemetry) as rest:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:

                async def call(delay: float) -> None:
                    await trio.sleep(delay)
                    results.append(await rest.get(REQ))

                nursery.start_soon(call, 0)
                nursery.start_soon(call, 1)  # arrives during the pause: must wait too
    assert results == [b"fine", b"fine"]
    assert fake.times[0] == 0.0
    assert all(t >= 7.0 for t in fake.times[1:])
    assert telemetry.counters["rest_429"] == 1


async def test_429_forever_raises_rate_limited(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "2"})

    fake = Fake(answer)
    async with client(fake, max_rate_limit_retries=3) as rest:
        with trio.fail_after(60), pytest.raises(RateLimited) as info:
            await rest.get(REQ)
    assert info.value.retry_after == 2.0
    assert len(fake.times) == 4
    assert fake.times == [0.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-5", "99999999"])
async def test_an_absurd_retry_after_is_capped_and_said(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(418, headers={"Retry-After": value}, json={"code": -1003})
        return ok()

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(MAX_BAN_WAIT + 60), pytest.raises(IpBanned) as info:
            await rest.get(REQ)
        assert 0.0 <= info.value.retry_after <= MAX_BAN_WAIT
        await rest.get(REQ)  # the pause ends: REST is never stopped for good
    if value != "-5":
        assert "Retry-After" in caplog.text


async def test_418_stops_every_call_until_the_ban_ends(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(418, headers={"Retry-After": "120"}, json={"code": -1003})
        return ok()

    fake = Fake(answer)
    telemetry = Telemetry()
    async with client(fake, telemetry=telemetry) as rest:
        with trio.fail_after(600):
            with pytest.raises(IpBanned) as info:
                await rest.get(REQ)
            assert info.value.retry_after == 120.0
            assert isinstance(info.value, ExchangeUnavailable)
            assert rest.banned_until == pytest.approx(120.0)
            await trio.sleep(30)
            await rest.get(REQ)  # waits out the ban, nothing sent meanwhile
            assert rest.banned_until is None
    assert fake.times == [0.0, pytest.approx(120.0)]
    assert telemetry.counters["rest_418"] == 1


async def test_5xx_backoff_is_bounded(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(503, text="busy")

    fake = Fake(answer)
    async with client(fake, max_attempts=5, backoff_base=1.0, backoff_cap=4.0) as rest:
        with trio.fail_after(600), pytest.raises(ExchangeUnavailable, match="HTTP 503"):
            await rest.get(REQ)
    assert len(fake.times) == 5
    gaps = [b - a for a, b in zip(fake.times, fake.times[1:], strict=False)]
    caps = [1.0, 2.0, 4.0, 4.0]  # capped exponential, equal jitter in [d/2, d]
    assert all(c / 2 <= g <= c + 1e-9 for g, c in zip(gaps, caps, strict=True))


async def test_5xx_then_success(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(502) if n < 3 else ok(b"[1]")

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(60):
            assert await rest.get(REQ) == b"[1]"
    assert len(fake.times) == 3


@pytest.mark.parametrize(
    ("status", "body", "code", "msg"),
    [
        (400, b'{"code":-1121,"msg":"Invalid symbol."}', -1121, "Invalid symbol."),
        (400, b'{"code":-1127,"msg":"More than 1 hours between startTime and endTime."}',
         -1127, "More than 1 hours"),
    ],
)  # fmt: skip
async def test_4xx_maps_to_exchange_rejected_without_retry(
    autojump_clock: trio.abc.Clock, status: int, body: bytes, code: int | None, msg: str
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(status, content=body)

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(60), pytest.raises(ExchangeRejected, match=msg) as info:
            await rest.get(REQ)
    assert (info.value.code, info.value.status) == (code, status)
    assert len(fake.times) == 1


async def test_slow_server_times_out_and_retries(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n <= 2:
            await trio.sleep(3600)  # hangs: our cancel scope must fire after `timeout`
        return ok(b"late but fine")

    fake = Fake(answer)
    async with client(fake, timeout=10.0, backoff_base=1.0) as rest:
        with trio.fail_after(120):
            assert await rest.get(REQ) == b"late but fine"
    assert len(fake.times) == 3
    assert 10.0 <= fake.times[1] - fake.times[0] <= 11.0


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("eof"),
        httpx.ReadError("reset"),
    ],
)
async def test_transport_errors_are_mapped(
    autojump_clock: trio.abc.Clock, exc: httpx.HTTPError
) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        raise exc

    fake = Fake(answer)
    async with client(fake, max_attempts=3) as rest:
        with trio.fail_after(60), pytest.raises(ExchangeUnavailable) as info:
            await rest.get(REQ)
    assert not isinstance(info.value.__cause__, httpx.HTTPError)
    assert len(fake.times) == 3


async def test_bad_scheme_is_a_usage_error() -> None:
    async with RestClient("ftp://nowhere.invalid", minute_offset=0.0) as rest:
        with trio.fail_after(5), pytest.raises(UsageError):
            await rest.get(REQ)


async def test_budget_windows_follow_the_minute_offset(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        return ok()

    fake = Fake(answer)
    # trio time 0 is second 50 of an exchange minute: the window rolls at trio time 10
    async with client(fake, weight_limit_per_minute=10, minute_offset=50.0) as rest:
        with trio.fail_after(60):
            await rest.get(RestRequest("/x", {}, weight=8))
            await rest.get(RestRequest("/x", {}, weight=8))
    assert fake.times == [0.0, pytest.approx(10.0)]


async def test_non_ascii_symbol_param_is_utf8_percent_encoded(
    autojump_clock: trio.abc.Clock,
) -> None:
    from orders_cli.sources.binance.spot import SPOT

    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            assert request.url.params["symbol"] == "币安人生USDT"
        return ok()

    fake = Fake(answer)
    async with client(fake) as rest:
        with trio.fail_after(5):
            await rest.get(SPOT.agg_trades_request("币安人生USDT", from_id=0))
            await rest.get(SPOT.exchange_info_request())
    assert "symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT" in fake.urls[0]
    fake.urls[0].encode("ascii")
    assert "TRD_GRP_025" in fake.urls[1]


async def test_concurrent_callers_share_one_budget(autojump_clock: trio.abc.Clock) -> None:
    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        await trio.sleep(0.5)  # in flight while others decide
        return ok()

    fake = Fake(answer)
    async with client(fake, weight_limit_per_minute=50) as rest:  # cap 40 = 10 calls
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                for _ in range(25):
                    nursery.start_soon(rest.get, REQ)
    minutes = [int(t // 60) for t in fake.times]
    assert [minutes.count(m) for m in sorted(set(minutes))] == [10, 10, 5]


async def test_header_adoption_keeps_the_weight_of_calls_still_in_flight(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A reply's header cannot count our calls still in flight: adopting it alone let
    concurrent calls pass the cap."""
    release = trio.Event()

    async def answer(request: httpx.Request, n: int) -> httpx.Response:
        if request.url.path == "/now":
            return ok(used=4)  # answered at once, counting only itself
        await release.wait()  # the others stay in flight
        return ok(used=4 * n)

    fake = Fake(answer)
    async with client(fake, weight_limit_per_minute=6000) as rest:
        with trio.fail_after(200):
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(rest.get, REQ)
                await trio.sleep(0.5)
                await rest.get(RestRequest("/now", {}, weight=4))  # its reply says 4
                assert rest.used_weight == 4 + 12  # + the three calls in flight
                release.set()
