"""Klines computed from the simulator's own trades (Binance's 12-element arrays)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orders_cli.sim.book import UNIT, fmt, fmt8

if TYPE_CHECKING:
    from orders_cli.sim.book import Book

_M = 60_000
INTERVALS = {
    "1s": 1000,
    "1m": _M,
    "3m": 3 * _M,
    "5m": 5 * _M,
    "15m": 15 * _M,
    "30m": 30 * _M,
    "1h": 60 * _M,
    "2h": 120 * _M,
    "4h": 240 * _M,
    "6h": 360 * _M,
    "8h": 480 * _M,
    "12h": 720 * _M,
    "1d": 1440 * _M,
}


def klines(
    book: Book, iv: int, start: int | None, end: int | None, limit: int, now_ms: int
) -> list[list[Any]]:
    """UTC-aligned bars. Empty bars after the first trade repeat the previous close with
    zero volume. Quote volumes are Σ p×q truncated to 8 decimals; prices and volumes
    have the book's decimals (8 on spot, the contract's on futures)."""
    if not len(book):
        return []

    def fp(units: int) -> str:
        return fmt(units, book.p_digits)

    def fq(units: int) -> str:
        return fmt(units, book.q_digits)

    first_bucket = book.t[0] // iv * iv
    last_bucket = min(end if end is not None else now_ms, now_ms) // iv * iv
    if start is not None:
        lo = max(first_bucket, -(-start // iv) * iv if start % iv else start)
        buckets = range(lo, last_bucket + 1, iv)[:limit]
    else:
        lo = max(first_bucket, last_bucket - (limit - 1) * iv)
        buckets = range(lo, last_bucket + 1, iv)
    out: list[list[Any]] = []
    for open_t in buckets:
        i = book.index_at_time(open_t)
        j = book.index_at_time(open_t + iv)
        if i == j:
            if i == 0:
                continue
            c = fp(book.p[i - 1])
            zero = fmt8(0)
            out.append([open_t, c, c, c, c, fq(0), open_t + iv - 1, zero, 0, fq(0), zero, "0"])
            continue
        p, q, m = book.p, book.q, book.m
        prices = p[i:j]
        vol = qv = tb = tbq = fills = 0
        for k in range(i, j):
            notional = p[k] * q[k]
            vol += q[k]
            qv += notional
            fills += book.ll[k] - book.first_f(k) + 1  # futures: f..l ranges skip ids
            if not m[k]:
                tb += q[k]
                tbq += notional
        out.append(
            [
                open_t,
                fp(prices[0]),
                fp(max(prices)),
                fp(min(prices)),
                fp(prices[-1]),
                fq(vol),
                open_t + iv - 1,
                fmt8(qv // UNIT),
                fills,
                fq(tb),
                fmt8(tbq // UNIT),
                "0",
            ]
        )
    return out
