"""Parser speed: µs per frame (CPU time) over the recorded spot fixture (hot path of every shard).

.venv/bin/python bench/parse_bench.py [ROUNDS] [--combined | --raw]

The fixture's lines are recorded from a combined stream (``{"stream":..,"data":{..}}``), the
form every shard receives. ``--combined`` makes sure of it (wraps any bare event frame as
``{"stream":"<symbol>@aggTrade","data":{..}}``); ``--raw`` unwraps every frame to the bare
event, the form of a single raw stream. Best of 5 runs of ``time.process_time``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from orders_cli.models import Trade
from orders_cli.sources.binance.spot import SPOT

FIXTURE = Path(__file__).resolve().parents[1] / "tests/data/binance/spot-aggTrade-frames.jsonl"


def _combined(frame: bytes) -> bytes:
    obj = orjson.loads(frame)
    if "stream" in obj and "data" in obj:
        return frame
    return orjson.dumps({"stream": f"{obj['s'].lower()}@aggTrade", "data": obj})


def _raw(frame: bytes) -> bytes:
    obj = orjson.loads(frame)
    return orjson.dumps(obj["data"]) if "stream" in obj and "data" in obj else frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rounds", nargs="?", type=int, default=50)
    form = ap.add_mutually_exclusive_group()
    form.add_argument("--combined", action="store_true", help="combined-stream frames")
    form.add_argument("--raw", action="store_true", help="bare event frames")
    args = ap.parse_args()
    frames_b = FIXTURE.read_bytes().splitlines()
    if args.combined:
        frames_b = [_combined(f) for f in frames_b]
    elif args.raw:
        frames_b = [_raw(f) for f in frames_b]
    frames_s = [f.decode() for f in frames_b]
    parse = SPOT.parse
    assert all(isinstance(parse(f)[0], Trade) for f in frames_b)
    form_name = "combined" if args.combined else "raw" if args.raw else "recorded"
    for label, frames in (("bytes", frames_b), ("str", frames_s)):
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(args.rounds):
                for f in frames:
                    parse(f)
            best = min(best, time.process_time() - t0)
        n = args.rounds * len(frames)
        us = best / n * 1e6
        print(
            f"{form_name} {label:5s}: {us:.2f} µs/frame  ({1e6 / us:,.0f} frames/s, "
            f"{len(frames)} frames)"
        )


if __name__ == "__main__":
    main()
