"""bench/soak (not in CI): `orders run` against a quiet simulator for a while, RSS sampled
every ``--every`` seconds. An idle hour must not grow RSS: the report gives the growth
after the first sample (warm-up) and a least-squares slope in MiB/hour.

Run: bench/soak [--minutes 60] [--every 60] [--symbols 300] [--rate 5]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
from benchlib import (
    ROOT,
    SimProc,
    code_version,
    eprint,
    exit_on_sigterm,
    loadavg,
    redis_server,
    rss_bytes,
    start_orders_run,
    stop_process,
)

OUT = ROOT / "bench" / "out"


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    if den == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den * 3600


def main(a: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(exist_ok=True)
    sim = SimProc(a.symbols, a.rate, seed=a.seed)
    samples: list[dict[str, float]] = []
    try:
        with redis_server("distro") as (url, _), open(OUT / "soak.log", "wb") as log:
            proc = start_orders_run(url, sim.info["ws_url"], sim.info["rest_url"], log)
            t0 = time.monotonic()
            try:
                time.sleep(a.warmup)
                while True:
                    el = time.monotonic() - t0
                    mib = rss_bytes(proc.pid) / 2**20
                    samples.append({"t_s": round(el, 1), "rss_mib": round(mib, 2)})
                    eprint(f"  t={el:.0f}s rss={mib:.1f} MiB load={loadavg()}")
                    if el >= a.minutes * 60:
                        break
                    time.sleep(min(a.every, max(0.0, a.minutes * 60 - el)))
            finally:
                rc = stop_process(proc)
    finally:
        sim.close()
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    res = {
        "code": code_version(),
        "args": vars(a),
        "samples": samples,
        "rss_first_mib": first,
        "rss_last_mib": last,
        "growth_mib": round(last - first, 2),
        "slope_mib_per_hour": slope_per_hour([(s["t_s"], s["rss_mib"]) for s in samples]),
        "exit_code": rc,
        "loadavg_end": loadavg(),
    }
    (OUT / "soak.json").write_text(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode())
    return res


def cli() -> None:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description="idle RSS soak of orders run")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--every", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=30.0, help="seconds before the first sample")
    p.add_argument("--symbols", type=int, default=300)
    p.add_argument("--rate", type=float, default=5.0, help="total trades/s (quiet)")
    p.add_argument("--seed", type=int, default=1)
    res = main(p.parse_args())
    print(orjson.dumps({k: v for k, v in res.items() if k != "samples"}).decode())


if __name__ == "__main__":
    cli()
