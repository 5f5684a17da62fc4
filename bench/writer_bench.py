"""The writer's synchronous core alone: ``Processor.process`` on batches of live trades
(Zipf over N symbols), against a private redis-server. Splits the wall time into client
CPU (``time.process_time``), Redis CPU (INFO cpu delta) and the rest (waiting).

Run: .venv/bin/python bench/writer_bench.py [--symbols 1000] [--batch 5000] [--batches 20]
     [--rate 5000] [--no-bars] [--rollup-s 1.0]
"""

from __future__ import annotations

import argparse
import random
import time

import orjson
import redis
from benchlib import redis_server

from orders_cli.models import Trade
from orders_cli.store.keys import Keyspace
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.timeframes import TIMEFRAMES


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def make_batches(
    n_sym: int, batch: int, batches: int, t0: int, step_ms: int = 100, seed: int = 7
) -> list[list[Trade]]:
    rnd = random.Random(seed)
    weights = [1.0 / (i + 1) ** 1.1 for i in range(n_sym)]
    names = [f"S{i:04d}USDT" for i in range(n_sym)]
    next_id = dict.fromkeys(names, 1000)
    out = []  # batch b: trades of the step from t0 + b * step_ms (BatchClock's time)
    for b in range(batches):
        trades = []
        for sym in rnd.choices(names, weights, k=batch):
            a = next_id[sym]
            next_id[sym] = a + 1
            t = t0 + b * step_ms + rnd.randint(0, step_ms - 1)
            trades.append(
                Trade(sym, a, f"{rnd.randint(1, 10**7) / 1e4:.8f}", "0.01000000", a, a, t, False, t)
            )
        trades.sort(key=lambda x: (x.symbol, x.agg_id))
        out.append(trades)
    return out


class BatchClock:
    """The writer's clocks as in a live run: every batch is ``step_ms`` after the one
    before (the trades' own times), so roll-ups fall due as often as at the real rate, not
    as often as this loop happens to run."""

    def __init__(self, t0_ms: int, step_ms: int) -> None:
        self.t0_ms = t0_ms
        self.step_ms = step_ms
        self.batch = 0

    def ms(self) -> int:
        return self.t0_ms + self.batch * self.step_ms + self.step_ms

    def monotonic(self) -> float:
        return 1000.0 + self.batch * self.step_ms / 1000


def main(a: argparse.Namespace) -> dict[str, float]:
    step_ms = max(1, round(1000 * a.batch / a.rate))
    clock = BatchClock(int(time.time() * 1000), step_ms)
    batches = make_batches(a.symbols, a.batch, a.batches + 1, clock.t0_ms, step_ms)
    with redis_server("distro") as (url, _):
        r = redis.Redis.from_url(url, socket_timeout=60)
        p = Processor(
            r,
            Keyspace(),
            PlanConfig(cold_start=False, first_sight_hold=False),
            timeframes=() if a.no_bars else TIMEFRAMES,
            rollup_s=a.rollup_s,
            clock_ms=clock.ms,
            monotonic=clock.monotonic,
        )
        # steady state: every symbol's state and bars loaded before the clock starts
        p.preload(sorted({t.symbol for b in batches for t in b}))
        p.process(batches[0], flush=True)
        w0, c0, rc0 = time.perf_counter(), time.process_time(), redis_cpu(r)
        n = 0
        for i, b in enumerate(batches[1:], 1):
            clock.batch = i
            p.process(b)
            n += len(b)
        p.process([], flush=True)  # the last roll-up is part of the work
        w, c, rc = time.perf_counter() - w0, time.process_time() - c0, redis_cpu(r) - rc0
        ev = r.info("commandstats").get("cmdstat_evalsha", {})
    return {
        "bars": not a.no_bars,
        "rollup_s": a.rollup_s,
        "symbols": a.symbols,
        "batch": a.batch,
        "rate": a.rate,
        "trades": n,
        "trades_per_s": round(n / w, 1),
        "us_per_trade_wall": round(1e6 * w / n, 1),
        "us_per_trade_client_cpu": round(1e6 * c / n, 1),
        "us_per_trade_redis_cpu": round(1e6 * rc / n, 1),
        "ms_per_batch": round(1000 * w / a.batches, 1),
        "evalsha_calls": ev.get("calls"),
        "evalsha_us_per_call": ev.get("usec_per_call"),
    }


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument(
        "--rate", type=float, default=5000.0, help="trades/s the batches stand for (their times)"
    )
    p.add_argument("--no-bars", action="store_true", help="no timeframe at all")
    p.add_argument(
        "--rollup-s", type=float, default=1.0, help="coarse bars every N s (0: every apply)"
    )
    print(orjson.dumps(main(p.parse_args())).decode())


if __name__ == "__main__":
    cli()
