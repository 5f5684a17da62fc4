"""µs per trade (CPU, best of 5) for ``bars_for_batch`` over 1000-trade batches spread
over ~50 symbols, and for the writer's steady state (each symbol's 100 ms bars merged
into the ones kept and the newest encoded with the current hash). Random 8-decimal prices
and sizes, or ``--recorded``: the recorded spot trades (tests/data/binance).
Run: .venv/bin/python bench/bars_bench.py [--recorded]   (ORDERS_MYPYC=1: the compiled build)"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orders_cli.models import Trade
from orders_cli.sources.binance.spot import SPOT
from orders_cli.stats import bars_for_batch, merge_bars
from orders_cli.stats.codec import current_fields, encode_bar, encode_bar_and_current

try:  # (the integer bars; before them, stats/bars.py built Decimal ones: A/B snapshots)
    from orders_cli.stats.fixed import bars_at
except ImportError:  # an older snapshot
    from orders_cli.stats.bars import bars_at  # type: ignore[attr-defined,no-redef,unused-ignore]

SYMBOLS = 50
BATCH = 1000
ROUNDS = 200
FIXTURE = Path(__file__).resolve().parents[1] / "tests/data/binance/spot-aggTrade-frames.jsonl"
REPEAT = 5


def make_batch(rnd: random.Random, start_ms: int, agg: dict[str, int]) -> dict[str, list[Trade]]:
    by_symbol: dict[str, list[Trade]] = {}
    for _ in range(BATCH):
        sym = f"SYM{min(int(rnd.paretovariate(0.5)), SYMBOLS) - 1:02d}USDT"  # skewed, like spot
        a = agg[sym] = agg.get(sym, 0) + 1
        t = start_ms + rnd.randint(0, 100)
        price = f"{rnd.randint(1, 10**11) / 1e8:.8f}"  # string formatting only, as on the wire
        qty = f"{rnd.randint(1, 10**12) / 1e8:.8f}"
        by_symbol.setdefault(sym, []).append(
            Trade(sym, a, price, qty, a * 2, a * 2 + 1, t, rnd.random() < 0.5, t + 3)
        )
    return by_symbol


def best(work: Callable[[], object]) -> float:
    """The least CPU time of :data:`REPEAT` runs (the box may be shared)."""
    times = []
    for _ in range(REPEAT):
        t0 = time.process_time()
        work()
        times.append(time.process_time() - t0)
    return min(times)


def encode_all(batches: list[dict[str, list[Trade]]]) -> None:
    for b in batches:
        for trades in b.values():
            bars = bars_for_batch(trades)
            for tf_bars in bars.values():
                for bar in tf_bars.values():
                    encode_bar(bar)
            current_fields(bars["100ms"][max(bars["100ms"])])


def writer_steady_state(batches: list[dict[str, list[Trade]]]) -> None:
    kept: dict[str, dict[int, Any]] = {}
    for b in batches:
        for sym, trades in b.items():
            base = merge_bars(kept.setdefault(sym, {}), bars_at(trades, "100ms"))
            encode_bar_and_current(base[max(base)])
            if len(base) > 3:
                del base[min(base)]


def recorded_batches() -> list[dict[str, list[Trade]]]:
    """The recorded spot trades (real prices: repeated, trailing zeros) in batches of 200
    frames by symbol, the whole recording :data:`ROUNDS` / 10 times over."""
    trades = [
        ev
        for line in FIXTURE.read_bytes().splitlines()
        if line.strip()
        for ev in SPOT.parse(line)
        if isinstance(ev, Trade)
    ]
    batches: list[dict[str, list[Trade]]] = []
    for k in range(0, len(trades), 200):
        b: dict[str, list[Trade]] = {}
        for t in trades[k : k + 200]:
            b.setdefault(t.symbol, []).append(t)
        batches.append(b)
    return batches * (ROUNDS // 10)


def main() -> None:
    if "--recorded" in sys.argv[1:]:
        batches = recorded_batches()
    else:
        rnd = random.Random(7)
        agg: dict[str, int] = {}
        batches = [make_batch(rnd, 1_700_000_000_000 + i * 100, agg) for i in range(ROUNDS)]
    build = best(lambda: [bars_for_batch(t) for b in batches for t in b.values()])
    total = best(lambda: encode_all(batches))
    steady = best(lambda: writer_steady_state(batches))
    n = sum(len(t) for b in batches for t in b.values())
    syms = sum(len(b) for b in batches) / len(batches)
    print(f"{len(batches)} batches x {n // len(batches)} trades over ~{syms:.0f} symbols each")
    print(f"bars_for_batch:                 {build / n * 1e6:6.2f} µs/trade")
    print(f"bars_for_batch + encode + current: {total / n * 1e6:6.2f} µs/trade")
    print(f"writer steady state (100ms merge + encode newest): {steady / n * 1e6:6.2f} µs/trade")


if __name__ == "__main__":
    main()
