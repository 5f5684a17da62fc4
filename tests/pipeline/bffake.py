"""Fakes for the backfill tests: trades, a spot-shaped source, an in-memory aggTrades
endpoint (fromId inclusive, limit, startTime-only oldest first, no params = latest
``limit``, weight per request, optional 429 limit, failures and a 418 ban) and a stand-in
for RestClient's weight pacing. Time is trio's (autojump in the tests)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import trio

from orders_cli.errors import ExchangeRejected, ExchangeUnavailable, IpBanned, RateLimited
from orders_cli.messages import Backfilled, WriterInput
from orders_cli.models import Rejection, Trade
from orders_cli.sources.base import RestRequest, SourceLimits

T0 = 1_700_000_000_000


def make_trades(symbol: str, ids: Sequence[int], *, step_ms: int = 10) -> list[Trade]:
    return [
        Trade(
            symbol=symbol,
            agg_id=i,
            price="100.10",
            quantity="0.500",
            first_trade_id=i * 2,
            last_trade_id=i * 2 + 1,
            trade_time=T0 + i * step_ms,
            is_buyer_maker=i % 2 == 0,
            event_time=T0 + i * step_ms,
        )
        for i in ids
    ]


class FakeSource:
    """Builds and parses spot-shaped aggTrades requests (the real source's contract)."""

    def __init__(self, weight: int = 4) -> None:
        self.limits = SourceLimits(agg_trades_weight=weight)

    def agg_trades_request(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1000,
    ) -> RestRequest:
        params = {"symbol": symbol}
        for key, value in (("fromId", from_id), ("startTime", start_time), ("endTime", end_time)):
            if value is not None:
                params[key] = str(value)
        params["limit"] = str(limit)
        return RestRequest("/api/v3/aggTrades", params, self.limits.agg_trades_weight)

    def parse_agg_trades(
        self, symbol: str, body: bytes, rejected: list[Rejection] | None = None
    ) -> list[Trade]:
        rows = orjson.loads(body)
        if not isinstance(rows, list):
            raise ExchangeRejected("malformed aggTrades body")
        return [
            Trade(symbol, r["a"], r["p"], r["q"], r["f"], r["l"], r["T"], r["m"], r["T"])
            for r in rows
        ]


class FakeExchange:
    """In-memory aggTrades endpoint. ``hard_limit``: weight per trio-clock minute above
    which it answers 429 like Binance. ``fail_first``: that many calls raise
    ExchangeUnavailable. ``ban_at``: that call (1-based) starts a 418 ban of ``ban_s``
    seconds; calls started after it and arriving before its end are counted in
    ``sent_during_ban`` (and answered 418 again)."""

    def __init__(
        self,
        trades: dict[str, list[Trade]],
        *,
        hard_limit: int | None = None,
        fail_first: int = 0,
        ban_at: int | None = None,
        ban_s: float = 0.0,
    ) -> None:
        self.trades = {s: sorted(ts, key=lambda t: t.agg_id) for s, ts in trades.items()}
        self.requests: list[RestRequest] = []
        self.calls: list[tuple[float, int]] = []  # (trio time, weight)
        self.per_minute: dict[int, int] = {}
        self.hard_limit = hard_limit
        self.fail_first = fail_first
        self.too_many = 0
        self.n_calls = 0
        self.ban_at, self.ban_s = ban_at, ban_s
        self.banned_at: float | None = None
        self.banned_until = 0.0
        self.sent_during_ban = 0

    def minute_weight(self, minute: int) -> int:
        return self.per_minute.get(minute, 0)

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        started = trio.current_time()
        await trio.sleep(0.05)  # a network round trip
        now = trio.current_time()
        self.n_calls += 1
        if self.n_calls == self.ban_at:
            self.banned_at, self.banned_until = now, now + self.ban_s
        if now < self.banned_until:
            assert self.banned_at is not None
            if started > self.banned_at:
                self.sent_during_ban += 1
            raise IpBanned("418", retry_after=self.banned_until - now)
        if self.fail_first > 0:
            self.fail_first -= 1
            raise ExchangeUnavailable("connection reset")
        if (
            self.hard_limit is not None
            and self.minute_weight(int(now // 60)) + req.weight > self.hard_limit
        ):
            self.too_many += 1
            raise RateLimited("429", retry_after=60 - now % 60)
        self.requests.append(req)
        self.calls.append((now, req.weight))
        self.per_minute[int(now // 60)] = self.minute_weight(int(now // 60)) + req.weight
        p = req.params
        assert req.path.endswith("/aggTrades")
        assert not ("fromId" in p and ("startTime" in p or "endTime" in p)), p
        if p["symbol"] not in self.trades:
            raise ExchangeRejected("Invalid symbol.", code=-1121, status=400)
        trades = self.trades[p["symbol"]]
        limit = min(int(p.get("limit", "500")), 1000)
        if "fromId" in p:
            sel = [t for t in trades if t.agg_id >= int(p["fromId"])][:limit]
        elif "startTime" in p or "endTime" in p:
            lo = int(p.get("startTime", "0"))
            hi = int(p["endTime"]) if "endTime" in p else None
            sel = [t for t in trades if t.trade_time >= lo and (hi is None or t.trade_time <= hi)]
            sel = sel[:limit] if "startTime" in p else sel[-limit:]
        else:
            sel = trades[-limit:]
        return orjson.dumps(
            [
                {
                    "a": t.agg_id,
                    "p": t.price,
                    "q": t.quantity,
                    "f": t.first_trade_id,
                    "l": t.last_trade_id,
                    "T": t.trade_time,
                    "m": t.is_buyer_maker,
                    "M": True,
                }
                for t in sel
            ]
        )


class PacedRest:
    """Stands in for RestClient's weight pacing: waits for the next minute when the
    call would pass ``target`` weight in the current one."""

    def __init__(self, exchange: FakeExchange, target: int) -> None:
        self.exchange = exchange
        self.target = target
        self.minute = -1
        self.used = 0

    async def get(self, req: RestRequest, *, speculative: bool = False) -> bytes:
        while True:
            minute = int(trio.current_time() // 60)
            if minute != self.minute:
                self.minute, self.used = minute, 0
            if self.used + req.weight <= self.target:
                break
            await trio.sleep((minute + 1) * 60 - trio.current_time())
        self.used += req.weight
        return await self.exchange.get(req, speculative=speculative)


def ids_of(msgs: Sequence[WriterInput], symbol: str) -> list[int]:
    return [
        t.agg_id for m in msgs if isinstance(m, Backfilled) and m.symbol == symbol for t in m.trades
    ]


def params(ex: FakeExchange) -> list[dict[str, str]]:
    return [dict(r.params) for r in ex.requests]
