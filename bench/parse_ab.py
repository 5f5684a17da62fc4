"""A/B of the frame parser: ``wire.py`` at a git revision vs the working tree, on a noisy box.

.venv/bin/python bench/parse_ab.py REV [RUNS]

Loads ``orders_cli/sources/binance/wire.py`` as of REV (``git show``) next to the current
one, checks both give equal events on the fixture, then alternates short CPU-time runs
(``time.process_time``, one pass over the fixture as bytes and as str) and prints the min
and 25th percentile µs/frame of each. Alternating keeps other jobs' load fair to both.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from orders_cli.sources.binance import wire

FIXTURE = Path(__file__).resolve().parents[1] / "tests/data/binance/spot-aggTrade-frames.jsonl"
WIRE = "orders_cli/sources/binance/wire.py"


def _load_at(rev: str, tmp: Path) -> ModuleType:
    text = subprocess.run(
        ["git", "show", f"{rev}:{WIRE}"], check=True, capture_output=True, text=True
    ).stdout
    path = tmp / "wire_at_rev.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("wire_at_rev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(parse: Callable[[str | bytes], object], frames: list[str | bytes]) -> float:
    t0 = time.process_time()
    for f in frames:
        parse(f)
    return (time.process_time() - t0) / len(frames) * 1e6


def main(rev: str, runs: int) -> None:
    raw = FIXTURE.read_bytes().splitlines()
    frames: list[str | bytes] = [*raw, *(f.decode() for f in raw)]
    with tempfile.TemporaryDirectory() as tmp:
        old = _load_at(rev, Path(tmp))
    for f in frames:
        assert old.parse_frame(f) == wire.parse_frame(f)
    results: dict[str, list[float]] = {rev: [], "tree": []}
    for _ in range(runs):
        results[rev].append(_run(old.parse_frame, frames))
        results["tree"].append(_run(wire.parse_frame, frames))
    for name, us in results.items():
        us.sort()
        print(f"{name:>10}: min {us[0]:.2f}  p25 {us[len(us) // 4]:.2f} µs/frame")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40)
