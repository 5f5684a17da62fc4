"""Bytes per bar in a real redis-server (private, unix socket), and what each timeframe's
default retention costs at 1,500 symbols.  Run: .venv/bin/python bench/bars_memory.py"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from orders_cli.models import Trade
from orders_cli.stats import bars_for_batch
from orders_cli.stats.codec import encode_bar
from orders_cli.stats.retention import DEFAULT_BAR_RETENTION_S
from orders_cli.store.keys import Keyspace
from orders_cli.timeframes import TF_MS, TIMEFRAMES

BARS = 20_000
SYMBOLS = 1_500


def main() -> None:
    binary = shutil.which("redis-server")
    assert binary, "redis-server not on PATH"
    with tempfile.TemporaryDirectory() as d:
        sock = Path(d) / "r.sock"
        proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(sock), "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not sock.exists():
                assert time.monotonic() < deadline
                time.sleep(0.01)
            r = redis.Redis(unix_socket_path=str(sock))
            print(f"redis-server {r.info()['redis_version']}")
            _measure(r)
        finally:
            proc.terminate()
            proc.wait(10)


def _measure(r: redis.Redis) -> None:
    rnd = random.Random(1)
    ks = Keyspace()
    per_bar: dict[str, float] = {}
    for tf in TIMEFRAMES:
        key = ks.bars("BTCUSDT", tf)
        members: dict[bytes, int] = {}
        a = 10**9
        for i in range(BARS):
            ws = 1_700_000_000_000 - 1_700_000_000_000 % TF_MS[tf] + i * TF_MS[tf]
            trades = []
            for _ in range(rnd.randint(1, 30)):  # realistic digits: 8 dp prices and sizes
                a += 1
                price = f"{rnd.randint(10**9, 10**13) / 1e8:.8f}"
                qty = f"{rnd.randint(1, 10**10) / 1e8:.8f}"
                t = ws + rnd.randint(0, TF_MS[tf] - 1)
                trades.append(
                    Trade("BTCUSDT", a, price, qty, a * 2, a * 2 + 1, t, rnd.random() < 0.5, ws)
                )
            bar = bars_for_batch(trades)[tf][ws]
            members[encode_bar(bar)] = ws
        before = int(r.info("memory")["used_memory"])
        r.zadd(key, members)
        after = int(r.info("memory")["used_memory"])
        avg_member = sum(len(m) for m in members) / len(members)
        per_bar[tf] = (after - before) / BARS
        print(f"{tf:>5}: member {avg_member:5.0f} B, used_memory {per_bar[tf]:5.0f} B/bar, "
              f"MEMORY USAGE {r.memory_usage(key, samples=0) / BARS:5.0f} B/bar")  # fmt: skip
    print(f"\nworst case (every window had a trade), {SYMBOLS} symbols:")
    for tf in TIMEFRAMES:
        keep = DEFAULT_BAR_RETENTION_S[tf]
        horizon = keep if keep is not None else 365 * 86400.0
        bars = horizon * 1000 / TF_MS[tf]
        gb = bars * per_bar[tf] * SYMBOLS / 1e9
        what = "" if keep is not None else " per year (unbounded)"
        print(f"{tf:>5}: {bars:9,.0f} bars/symbol -> {gb:7.2f} GB{what}")


if __name__ == "__main__":
    main()
