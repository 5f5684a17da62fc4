"""What ``orders verify`` found: per symbol (:class:`SymbolReport`) and overall
(:class:`VerifyReport`, with its JSON lines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import orjson

from orders_cli.ops import verify_bars as vb
from orders_cli.ops.verify_ids import IdRange, total


@attrs.define
class SymbolReport:
    symbol: str
    stored: int = 0  # distinct ids stored inside the window
    first_id: int | None = None
    last_id: int | None = None
    rest_head: int | None = None
    missing: list[IdRange] = attrs.field(factory=list)  # REST has them, we do not
    # the exchange's ids in the window before our first stored one (not paged unless repair)
    missing_window: IdRange | None = None
    exchange_side: list[IdRange] = attrs.field(factory=list)  # REST lacks them too
    # the exchange-side ids older than the market's REST history (never paged): unrecoverable
    outside_rest_window: list[IdRange] = attrs.field(factory=list)
    rest_window_h: int | None = None  # that history in hours (None: REST keeps everything)
    unverified: list[IdRange] = attrs.field(factory=list)  # holes REST could not check
    in_flight: int = 0  # missing from Redis but younger than the grace (not a problem)
    duplicates: dict[int, int] = attrs.field(factory=dict)  # id -> times in the ZSET
    stream_duplicates: dict[int, int] = attrs.field(factory=dict)
    stream_missing: list[IdRange] = attrs.field(factory=list)  # in the ZSET, not the stream
    stream_extra: list[IdRange] = attrs.field(factory=list)  # in the stream, not the ZSET
    bar_problems: list[vb.BarProblem] = attrs.field(factory=list)
    bars_compared: int | None = None  # windows recomputed from trades (None: not asked)
    klines_compared: int | None = None  # 1m bars compared with klines (None: not asked)
    errors: list[str] = attrs.field(factory=list)
    repaired: int = 0

    @property
    def problems(self) -> int:
        """How many things are wrong (ids missing, duplicates, stream and bar differences,
        errors). Exchange-side holes are not problems."""
        return (
            total(self.missing)
            + (self.missing_window.size if self.missing_window is not None else 0)
            + total(self.unverified)
            + sum(n - 1 for n in self.duplicates.values())
            + sum(n - 1 for n in self.stream_duplicates.values())
            + total(self.stream_missing)
            + total(self.stream_extra)
            + len(self.bar_problems)
            + len(self.errors)
        )

    def as_dict(self) -> dict[str, Any]:
        def rs(ranges: Sequence[IdRange]) -> list[list[int]]:
            return [r.as_list() for r in ranges]

        w = self.missing_window

        return {
            "symbol": self.symbol,
            "ok": self.problems == 0,
            "problems": self.problems,
            "stored": self.stored,
            "first_id": self.first_id,
            "last_id": self.last_id,
            "rest_head": self.rest_head,
            "missing": rs(self.missing),
            "missing_count": total(self.missing),
            "missing_window": None if w is None else w.as_list(),
            "missing_window_count": 0 if w is None else w.size,
            "exchange_side": rs(self.exchange_side),
            "exchange_side_count": total(self.exchange_side),
            "outside_rest_window": rs(self.outside_rest_window),
            "outside_rest_window_count": total(self.outside_rest_window),
            "unverified": rs(self.unverified),
            "in_flight": self.in_flight,
            "duplicates": {str(k): v for k, v in sorted(self.duplicates.items())},
            "stream_duplicates": {str(k): v for k, v in sorted(self.stream_duplicates.items())},
            "stream_missing": rs(self.stream_missing),
            "stream_extra": rs(self.stream_extra),
            "bar_problems": [p.as_dict() for p in self.bar_problems],
            "bars_compared": self.bars_compared,
            "klines_compared": self.klines_compared,
            "errors": list(self.errors),
            "repaired": self.repaired,
        }


def unrecoverable_note(hours: int | None) -> str:
    """How ``outside_rest_window`` ids are named to the user."""
    return f"unrecoverable (outside Binance's {hours} h REST window)"


@attrs.define
class VerifyReport:
    since_ms: int  # epoch ms of the window's lower edge
    symbols: list[SymbolReport] = attrs.field(factory=list)

    @property
    def clean(self) -> bool:
        return all(s.problems == 0 for s in self.symbols)

    def summary(self) -> dict[str, Any]:
        return {
            "summary": True,
            "ok": self.clean,
            "since_ms": self.since_ms,
            "symbols": len(self.symbols),
            "symbols_with_problems": sum(1 for s in self.symbols if s.problems),
            "missing": sum(total(s.missing) for s in self.symbols),
            "exchange_side": sum(total(s.exchange_side) for s in self.symbols),
            "outside_rest_window": sum(total(s.outside_rest_window) for s in self.symbols),
            "in_flight": sum(s.in_flight for s in self.symbols),
            "repaired": sum(s.repaired for s in self.symbols),
        }

    def json_lines(self, market: str | None = None) -> bytes:
        """One line per symbol, then the summary; each names ``market`` when given (a
        verify of several markets)."""
        docs = [*(s.as_dict() for s in self.symbols), self.summary()]
        tag = {} if market is None else {"market": market}
        return b"".join(orjson.dumps({**tag, **doc}) + b"\n" for doc in docs)
