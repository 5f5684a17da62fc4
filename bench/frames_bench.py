"""The WebSocket frame reader alone (ws/wsframes.py): µs per frame (CPU, best of 7) to cut
the recorded spot frames, framed as a server sends them, out of 16 KiB reads.

Run: .venv/bin/python bench/frames_bench.py   (ORDERS_MYPYC=1: the compiled build)"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from orders_cli.ws.wsframes import FrameReader

FIXTURE = Path(__file__).resolve().parents[1] / "tests/data/binance/spot-aggTrade-frames.jsonl"
ROUNDS = 20


def frame(payload: bytes) -> bytes:
    """A server's unmasked final text frame."""
    n = len(payload)
    head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + n.to_bytes(2, "big")
    return head + payload


def main() -> None:
    lines = [x.strip() for x in FIXTURE.read_bytes().splitlines() if x.strip()]
    blob = b"".join(frame(x) for x in lines)
    reads = [blob[i : i + 16384] for i in range(0, len(blob), 16384)]
    best = float("inf")
    for _ in range(7):
        reader, out = FrameReader(1 << 20), deque[str | bytes]()
        t0 = time.process_time()
        for _ in range(ROUNDS):
            for chunk in reads:
                reader.feed(chunk, out)
            out.clear()
        best = min(best, time.process_time() - t0)
    print(f"frame reader: {best / (ROUNDS * len(lines)) * 1e6:.3f} µs/frame ({len(lines)} frames)")


if __name__ == "__main__":
    main()
