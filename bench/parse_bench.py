"""Parser speed: µs per frame (CPU time) over the recorded spot fixture (hot path of every shard).

.venv/bin/python bench/parse_bench.py [ROUNDS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from orders_cli.models import Trade
from orders_cli.sources.binance.spot import SPOT

FIXTURE = Path("/work/shared/fixtures/binance/spot-aggTrade-frames.jsonl")


def main(rounds: int = 50) -> None:
    frames_b = FIXTURE.read_bytes().splitlines()
    frames_s = [f.decode() for f in frames_b]
    parse = SPOT.parse
    assert all(isinstance(parse(f)[0], Trade) for f in frames_b)
    for label, frames in (("bytes", frames_b), ("str", frames_s)):
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(rounds):
                for f in frames:
                    parse(f)
            best = min(best, time.process_time() - t0)
        n = rounds * len(frames)
        us = best / n * 1e6
        print(f"{label:5s}: {us:.2f} µs/frame  ({1e6 / us:,.0f} frames/s, {len(frames)} frames)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
