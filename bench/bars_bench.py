"""µs per trade for ``bars_for_batch`` over 1000-trade batches spread over ~50 symbols
(what the writer pays per drained batch).  Run: .venv/bin/python bench/bars_bench.py"""

from __future__ import annotations

import random
import time

from orders_cli.models import Trade
from orders_cli.stats import bars_for_batch
from orders_cli.stats.codec import current_fields, encode_bar

SYMBOLS = 50
BATCH = 1000
ROUNDS = 200


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


def main() -> None:
    rnd = random.Random(7)
    agg: dict[str, int] = {}
    batches = [make_batch(rnd, 1_700_000_000_000 + i * 100, agg) for i in range(ROUNDS)]
    t0 = time.perf_counter()
    for b in batches:
        for trades in b.values():
            bars_for_batch(trades)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in batches:
        for trades in b.values():
            bars = bars_for_batch(trades)
            for tf_bars in bars.values():
                for bar in tf_bars.values():
                    encode_bar(bar)
            current_fields(bars["100ms"][max(bars["100ms"])])
    total = time.perf_counter() - t0
    n = ROUNDS * BATCH
    syms = sum(len(b) for b in batches) / ROUNDS
    print(f"{ROUNDS} batches x {BATCH} trades over ~{syms:.0f} symbols each")
    print(f"bars_for_batch:                 {build / n * 1e6:6.2f} µs/trade")
    print(f"bars_for_batch + encode + current: {total / n * 1e6:6.2f} µs/trade")


if __name__ == "__main__":
    main()
