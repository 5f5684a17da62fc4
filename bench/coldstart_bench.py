"""bench/coldstart: cold start of N symbols with 24 h of Zipf history against the
simulator's REST weight budget, then a restart after some downtime.

Complete = every symbol's stored ids (ZSET) cover, without a hole, the simulator's truth
from ``now - 24 h + --margin-s`` (re-evaluated at each check: the ingester computed its
own horizon earlier, so it never asked for less) up to the last id that existed when the
phase began: stored first id <= truth first id, stored last id >= that last id,
ZCARD == stored last - stored first + 1. Weight is
read at the simulator's limiter (fixed 1-minute windows, the ``X-MBX-USED-WEIGHT-1M``
figure); 429/418 counts come from the simulator's stats.

Run: bench/coldstart [--symbols 1000] [--rate 20] [--history 86400] [--down 120]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import redis
from benchlib import (
    KS,
    ROOT,
    SimProc,
    code_version,
    eprint,
    exit_on_sigterm,
    id_bounds,
    loadavg,
    redis_server,
    rss_bytes,
    start_orders_run,
    stop_process,
)

OUT = ROOT / "bench" / "out"


def incomplete(r: redis.Redis, target: dict[str, list[int]]) -> list[str]:
    """Symbols whose stored ids do not yet cover the target exactly. One pipelined pass
    (count, first and last member); a symbol that fails it is looked at again with the
    exact id bounds (equal-T members sort by text, so the first member need not hold
    the lowest id)."""
    symbols = [s for s, (n, _, _) in target.items() if n > 0]
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        key = KS.trades_latest(s)
        pipe.zcard(key)
        pipe.zrange(key, 0, 0)
        pipe.zrange(key, -1, -1)
    res: list[Any] = pipe.execute()
    bad = []
    for i, s in enumerate(symbols):
        zc, lo, hi = res[3 * i : 3 * i + 3]
        _, first, last = target[s]
        if not lo:
            bad.append(s)
            continue
        a = int(orjson.loads(lo[0])["agg_trade_id"])
        b = int(orjson.loads(hi[0])["agg_trade_id"])
        if a > first or b < last or zc != b - a + 1:
            bounds = id_bounds(r, s)
            if bounds is None:
                bad.append(s)
                continue
            a, b = bounds
            if a > first or b < last or zc != b - a + 1:
                bad.append(s)
    return bad


def horizon_truth(
    a: argparse.Namespace, sim: SimProc, at_start: dict[str, list[int]] | None
) -> dict[str, list[int]]:
    """The truth the ingester must hold now: trades with ``T >= now - 24 h + margin``
    (its own horizon was computed earlier, so it never asked for less), up to the last
    id that existed when the phase began (``at_start``; live trades after it are not
    required)."""
    since = int(time.time() * 1000) - int(a.backfill_s * 1000) + int(a.margin_s * 1000)
    now: dict[str, list[int]] = sim.ask(f"truth_since {since}")["truth"]
    if at_start is None:
        return now
    out: dict[str, list[int]] = {}
    for s, (_, first, _) in now.items():
        n0, _, last0 = at_start.get(s, [0, -1, -1])
        if n0 > 0 and first != -1 and first <= last0:
            out[s] = [last0 - first + 1, first, last0]
    return out


def phase(
    name: str, a: argparse.Namespace, url: str, r: redis.Redis, sim: SimProc
) -> dict[str, Any]:
    info = sim.info
    before = sim.ask("stats")
    target = horizon_truth(a, sim, None)
    total = sum(v[0] for v in target.values())
    eprint(f"[{name}] target {total} trades over {len(target)} symbols; load {loadavg()}")
    t0 = time.monotonic()
    log_path = OUT / f"coldstart-{name}.log"
    with open(log_path, "wb") as log:
        proc = start_orders_run(url, info["ws_url"], info["rest_url"], log)
        try:
            left: list[str] = list(target)
            rss_max = 0
            while time.monotonic() - t0 < a.timeout:
                time.sleep(2.0)
                rss_max = max(rss_max, rss_bytes(proc.pid))
                left = incomplete(r, horizon_truth(a, sim, target))
                w = sim.ask("stats")["weight"]
                el = time.monotonic() - t0
                eprint(f"  t={el:.0f}s incomplete={len(left)} weight={w['used']}")
                if not left:
                    break
            done_s = time.monotonic() - t0
        finally:
            rc = stop_process(proc)
    after = sim.ask("stats")
    s0, s1 = before["stats"], after["stats"]
    w = after["weight"]
    return {
        "phase": name,
        "complete": not left,
        "incomplete_sample": left[:5],
        "seconds_to_complete": round(done_s, 1),
        "target_trades": total,
        "rest_calls": {
            k: s1.get(k, 0) - s0.get(k, 0) for k in s1 if k.startswith("rest") and s1.get(k, 0)
        },
        "rest_429": s1.get("rest_429", 0) - s0.get("rest_429", 0),
        "rest_418": s1.get("rest_418", 0) - s0.get("rest_418", 0),
        "weight_peak_per_min": w["peak"],
        "weight_windows": w["windows"],
        "weight_budget": w["budget"],
        "peak_ratio": round(w["peak"] / w["budget"], 3),
        "rss_orders_max_mib": round(rss_max / 2**20, 1),
        "exit_code": rc,
        "log": str(log_path.relative_to(ROOT)),
        "loadavg_end": loadavg(),
    }


def main(a: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(exist_ok=True)
    t = time.monotonic()
    sim = SimProc(a.symbols, a.rate, history=a.history, seed=a.seed)
    eprint(f"sim up in {time.monotonic() - t:.1f}s: {sim.info}")
    try:
        with redis_server("distro") as (url, _):
            r = redis.Redis.from_url(url, socket_timeout=30)
            cold = phase("cold", a, url, r, sim)
            sim.ask("stats")  # the weight window keeps running while we are down
            eprint(f"down for {a.down}s")
            time.sleep(a.down)
            restart = phase("restart", a, url, r, sim)
            stored = int(r.info("memory")["used_memory"])
    finally:
        sim.close()
    res: dict[str, Any] = {"code": code_version(), "args": vars(a), "cold": cold}
    res["restart"] = restart
    res["used_memory_end"] = stored
    (OUT / "coldstart.json").write_text(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode())
    return res


def cli() -> None:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description="cold start + restart backfill against REST budget")
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20.0, help="total trades/s (history and live)")
    p.add_argument("--history", type=float, default=86400.0)
    p.add_argument("--down", type=float, default=120.0, help="seconds stopped before restart")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--backfill-s", type=float, default=86400.0, help="orders run --backfill")
    p.add_argument("--margin-s", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=1)
    res = main(p.parse_args())
    for k in ("cold", "restart"):
        short = {x: y for x, y in res[k].items() if x != "weight_windows"}
        print(orjson.dumps({k: short}).decode())


if __name__ == "__main__":
    cli()
