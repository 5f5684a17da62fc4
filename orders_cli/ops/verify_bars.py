"""``orders verify --bars/--klines``: recompute bars from the stored trades and compare
them with ``stats:{S}:<tf>``; compare stored 1m bars with the exchange's klines.

Only windows fully inside the checked range count: from the later of ``--since`` and the
oldest stored trade (older trades were pruned, their windows cannot be recomputed) up
to the snapshot time (open windows are still filling)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from orders_cli.errors import RedisUnavailable
from orders_cli.models import Trade
from orders_cli.ops.nodes import slot_transaction
from orders_cli.redis_errors import LOST
from orders_cli.redis_types import RedisClient
from orders_cli.stats.bars import Bar, bars_from_trades_reference
from orders_cli.stats.check import compare_kline, diff_bars
from orders_cli.stats.codec import decode_bar
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member
from orders_cli.store.rollup import decode_marker
from orders_cli.timeframes import TF_MS, TIMEFRAMES

if TYPE_CHECKING:
    from redis.client import Pipeline

KLINE_TF = "1m"
KLINES_LIMIT = 1000


@attrs.frozen(slots=True)
class BarProblem:
    """One difference of a stored bar (``source`` "trades": vs the stored trades,
    "klines": vs the exchange's kline)."""

    source: str
    tf: str
    window_start: int
    what: str

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(slots=True)
class BarSnapshot:
    """One symbol's trades and bars read in one MULTI (consistent with each other)."""

    trades: list[Trade]
    bars: dict[str, dict[int, Bar]]
    taken_ms: int
    # first-coarse windows the running writer has not rolled up yet (store/rollup.py):
    # coarse bars holding them are still being written, not wrong
    rolling: tuple[int, ...] = ()

    def in_flight(self, tf: str, ws: int) -> bool:
        if tf == TIMEFRAMES[0]:
            return False
        return any(ws <= w < ws + TF_MS[tf] for w in self.rolling)

    @property
    def edge_ms(self) -> int | None:
        """Start of the checked range: the oldest stored trade (None: no trades)."""
        return min((t.trade_time for t in self.trades), default=None)


def read_snapshot(r: RedisClient, ks: Keyspace, symbol: str, lo_ms: int) -> BarSnapshot:
    """Trades with ``T >= lo_ms`` and every bar that may overlap them, atomically (all
    keys share the symbol's hash tag)."""

    def snapshot(pipe: Pipeline) -> None:
        pipe.time()
        pipe.zrangebyscore(ks.trades_latest(symbol), lo_ms, "+inf")
        for tf in TIMEFRAMES:
            pipe.zrangebyscore(ks.bars(symbol, tf), lo_ms - TF_MS[tf], "+inf")
        pipe.hget(ks.state(symbol), "rollup")

    try:
        res = slot_transaction(r, ks.state(symbol), snapshot)
    except LOST as exc:
        raise RedisUnavailable(f"lost Redis: {exc}") from exc
    secs, micros = res[0]
    trades = [decode_member(m) for m in res[1]]
    bars: dict[str, dict[int, Bar]] = {}
    for tf, members in zip(TIMEFRAMES, res[2:-1], strict=True):
        decoded = (decode_bar(m) for m in members)
        bars[tf] = {b.window_start: b for b in decoded}
    taken = int(secs) * 1000 + int(micros) // 1000
    return BarSnapshot(trades, bars, taken, decode_marker(res[-1]))


def _inside(ws: int, tf: str, lo: int, hi: int) -> bool:
    return ws >= lo and ws + TF_MS[tf] <= hi


def check_bars(snap: BarSnapshot, lo_ms: int) -> list[BarProblem]:
    """Every difference between the bars recomputed from the trades and the stored ones,
    for windows fully inside the checked range."""
    return compare_bars(snap, lo_ms)[0]


def compare_bars(snap: BarSnapshot, lo_ms: int) -> tuple[list[BarProblem], int]:
    """:func:`check_bars`, and how many windows (all timeframes) were compared."""
    edge = snap.edge_ms
    if edge is None:
        return [], 0
    lo = max(lo_ms, edge)
    hi = snap.taken_ms
    expected = bars_from_trades_reference(snap.trades)
    out: list[BarProblem] = []
    compared = 0
    for tf in TIMEFRAMES:
        exp = {
            ws: b
            for ws, b in expected[tf].items()
            if _inside(ws, tf, lo, hi) and not snap.in_flight(tf, ws)
        }
        got = {
            ws: b
            for ws, b in snap.bars[tf].items()
            if _inside(ws, tf, lo, hi) and not snap.in_flight(tf, ws)
        }
        compared += len(exp.keys() | got.keys())
        for d in diff_bars(exp, got):
            what = "missing bar" if d.kind == "missing" else "extra bar"
            if d.kind == "field":
                what = f"{d.field}: expected {d.expected}, stored {d.stored}"
            out.append(BarProblem("trades", tf, d.window_start, what))
    return out, compared


def kline_range(snap: BarSnapshot, lo_ms: int) -> tuple[int, int] | None:
    """``(first open time, last open time)`` of the 1m windows to compare, or None."""
    edge = snap.edge_ms
    if edge is None:
        return None
    size = TF_MS[KLINE_TF]
    lo = max(lo_ms, edge)
    first = -(-lo // size) * size
    last = (snap.taken_ms // size) * size - size
    return (first, last) if first <= last else None


def _exponent(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        exp = Decimal(text).as_tuple().exponent
    except InvalidOperation:
        return None
    return exp if isinstance(exp, int) else None


def _truncated_equal(ours: Decimal, theirs: object) -> bool:
    """The exchange prints quote volumes cut to its precision: equal after truncating
    ours to the number of decimals it sent."""
    exp = _exponent(theirs)
    if exp is None or not isinstance(theirs, str):
        return False
    return ours.quantize(Decimal(1).scaleb(exp), rounding=ROUND_DOWN) == Decimal(theirs)


def check_klines(
    bars: dict[int, Bar], klines: Sequence[Sequence[object]], first: int, last: int
) -> list[BarProblem]:
    """Our stored 1m bars vs the exchange's klines for open times ``first..last``."""
    out: list[BarProblem] = []
    seen: set[int] = set()
    for k in klines:
        if not k or not isinstance(k[0], int) or not first <= k[0] <= last:
            continue
        ws = k[0]
        seen.add(ws)
        bar = bars.get(ws)
        if bar is None:
            if len(k) > 8 and k[8] not in (0, "0"):
                out.append(BarProblem("klines", KLINE_TF, ws, f"missing bar ({k[8]} fills)"))
            continue
        for diff in compare_kline(bar, k, tf=KLINE_TF):
            label = diff.split(":", 1)[0]
            if label == "quote_volume" and _truncated_equal(bar.quote_volume, k[7]):
                continue
            if label == "taker_buy_quote" and _truncated_equal(bar.taker_buy_quote_volume, k[10]):
                continue
            out.append(BarProblem("klines", KLINE_TF, ws, diff))
    for ws in sorted(bars):
        if first <= ws <= last and ws not in seen:
            out.append(BarProblem("klines", KLINE_TF, ws, "no kline from the exchange"))
    return sorted(out, key=lambda p: p.window_start)
