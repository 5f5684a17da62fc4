"""bench/ingest: simulator process -> `orders run` process -> private redis-server.

Everything stored is counted FROM REDIS (ZCARD over every symbol), latency is measured
from Redis (stream entries' ``E`` vs the wall clock when XREAD saw them; the ingester's
own ``orders:health:<id>`` figures are printed next to it), trades per Lua call is
stored trades / ``cmdstat_evalsha`` calls, bytes per trade is ``used_memory`` delta /
stored-trades delta over the measured window. At the end the simulator is frozen and
Redis is compared with its truth (count, XLEN and first/last id per symbol).

Run: bench/ingest [--symbols 1000] [--rate 20000] [--seconds 60] [--redis distro|embedded]
[--market spot,usdm]   (several markets in one `orders run`, sharing --rate evenly, with
--symbols each: CPU per stored trade against `--market spot` at the same total rate)

``--redis cluster [--cluster-replicas N]``: a private 3-master Redis Cluster instead
(bench/redis_target.py); the same figures, server-side ones summed over the primaries,
CPU and RSS of every redis-server process (each and summed, ``processes``), per-node
counters under ``cluster``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import orjson
from benchlib import (
    ROOT,
    SimProc,
    code_version,
    compare_truth,
    eprint,
    exit_on_sigterm,
    health,
    loadavg,
    rss_bytes,
    start_orders_run,
    stop_process,
    stored_counts,
)
from memory_formula import memory_formula
from procwatch import ProcWatch
from redis_target import CLUSTER_MASTERS, CLUSTER_NODE_TIMEOUT_MS, RedisTarget, redis_target

OUT = ROOT / "bench" / "out"
DAY_TRADES_ALL_BINANCE_SPOT = 50_000_000  # assumption, see bench/RESULTS.md


def main(a: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(exist_ok=True)
    markets = "" if a.market == "spot" else a.market.replace(",", "+") + "-"
    replicas = a.redis == "cluster" and a.cluster_replicas
    kind = a.redis + (f"-r{a.cluster_replicas}" if replicas else "")
    tag = a.tag or f"ingest-{kind}-{markets}{a.symbols}x{int(a.rate)}"
    log_path = OUT / f"{tag}.log"
    with redis_target(a.redis, a.cluster_replicas) as target:
        version = target.version()
        mem_empty = target.used_memory()
        sim = SimProc(a.symbols, a.rate, seed=a.seed, market=a.market)
        try:
            return run(a, tag, target, sim, log_path, version, mem_empty)
        finally:
            sim.close()


def run(
    a: argparse.Namespace,
    tag: str,
    target: RedisTarget,
    sim: SimProc,
    log_path: Path,
    version: str,
    mem_empty: int,
) -> dict[str, Any]:
    info = sim.info
    url = target.url
    eprint(f"[{tag}] redis {version} {url}; sim {info}")
    with open(log_path, "wb") as log:
        sample = OUT / f"{tag}.stacks.json" if a.sample else None
        knobs = {}
        if a.switch_interval_ms:
            knobs["ORDERS_SWITCH_INTERVAL_MS"] = str(a.switch_interval_ms)
        if a.ws_recv_bytes:
            knobs["ORDERS_WS_RECV_BYTES"] = str(a.ws_recv_bytes)
        # several markets: each under its own path of the one simulator
        ws_urls = info.get("ws_urls", {})
        ws = (
            info["ws_url"]
            if len(ws_urls) <= 1
            else ",".join(f"{m}={u}" for m, u in ws_urls.items())
        )
        extra = ["--market", a.market, *a.orders_args]
        proc = start_orders_run(url, ws, info["rest_url"], log, extra, sample, knobs)
        t_start = time.monotonic()
        try:
            res = measure(a, target, sim, proc.pid, t_start)
        finally:
            rc = stop_process(proc)
    res.update(
        tag=tag,
        redis_version=version,
        redis_kind=a.redis,
        code=code_version(),
        sim=info,
        exit_code=rc,
        mem_empty=mem_empty,
        log=str(log_path.relative_to(ROOT)),
        args=vars(a),
    )
    (OUT / f"{tag}.json").write_text(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode())
    return res


def measure(
    a: argparse.Namespace,
    target: RedisTarget,
    sim: SimProc,
    pid: int,
    t_start: float,
) -> dict[str, Any]:
    r = target.client
    symbols = sim_symbols(sim)
    watch = proc_watch(target, sim, pid)
    # warm-up: subscriptions, cold-start backfills, first bars
    time.sleep(a.warmup)
    probe = target.probe(probe_symbols(symbols), a.probe_per_symbol)
    probe.start()
    c0 = sum(stored_counts(r, symbols).values())
    n0 = target.node_counters() if target.cluster else {}
    m0, e0, t0 = target.used_memory(), target.evalsha_calls(), time.monotonic()
    g0 = sim.ask("stats")["stats"].get("trades", 0)
    watch.begin()
    samples = []
    rss_max = 0
    most_gaps = 0  # the per-symbol gauge, sampled every second (issue 18's "at most 4")
    while time.monotonic() - t0 < a.seconds:
        most_gaps = max(most_gaps, watch_gaps(r, min(5.0, a.seconds - (time.monotonic() - t0))))
        rss = watch.sample()["orders"]
        rss_max = max(rss_max, rss)
        n = sum(stored_counts(r, symbols).values())
        samples.append({"t": round(time.monotonic() - t0, 1), "stored": n, "rss": rss})
        eprint(f"  t={samples[-1]['t']}s stored={n} rss={rss / 2**20:.0f} MiB load={loadavg()}")
    c1 = sum(stored_counts(r, symbols).values())
    m1, e1, t1 = target.used_memory(), target.evalsha_calls(), time.monotonic()
    g1 = sim.ask("stats")["stats"].get("trades", 0)
    watch.end()
    n1 = target.node_counters() if target.cluster else {}
    dt = t1 - t0
    processes = watch.report(dt)
    probe.stop()
    snap = health(r) or {}
    sim_stats = sim.ask("stats")["stats"]
    frozen = sim.ask("freeze")
    truth = frozen["truth"]
    settle0 = time.monotonic()
    cmp = compare_truth(r, truth)
    most_gaps_settle = 0
    while cmp["bad"] and time.monotonic() - settle0 < a.settle:
        most_gaps_settle = max(most_gaps_settle, watch_gaps(r, 1.0))
        cmp = compare_truth(r, truth)
    stored_total = cmp["stored"]
    breakdown = target.memory_breakdown()
    members = target.member_counts()
    res: dict[str, Any] = {
        "window_s": round(dt, 2),
        "generated_per_s": round((g1 - g0) / dt, 1),
        "stored_per_s": round((c1 - c0) / dt, 1),
        "active_symbols": sum(1 for v in truth.values() if v[0] > 0),
        "trades_per_lua_call": round((c1 - c0) / max(1, e1 - e0), 1),
        "lua_calls_per_s": round((e1 - e0) / dt, 1),
        "latency_from_redis_ms": probe.percentiles(),
        "latency_health_ms": snap.get("latency_ms"),
        "health_counters": {
            k: snap.get(k)
            for k in ("trades_stored", "duplicates", "malformed", "dropped_overload", "gaps")
        },
        "most_open_gaps_per_symbol": {"window": most_gaps, "settle": most_gaps_settle},
        "sim_stats": {k: v for k, v in sim_stats.items() if not k.startswith("rest:")},
        "cpu_pct": {
            k: round(100 * watch.cpu_seconds_used(name) / dt, 1)
            for k, name in (("orders", "orders"), ("redis", redis_name(target)), ("sim", "sim"))
        },
        "rss_orders_max_mib": round(rss_max / 2**20, 1),
        "rss_orders_end_mib": round(rss_bytes(pid) / 2**20, 1),
        "bytes_per_trade_window": round((m1 - m0) / max(1, c1 - c0), 1),
        "used_memory_end": target.used_memory(),
        "bytes_per_stored_trade_by_class": {
            k: round(v / max(1, stored_total), 1) for k, v in breakdown.items()
        },
        "stored_total": stored_total,
        "settle_s": round(time.monotonic() - settle0, 1),
        "truth_compare": cmp,
        "loadavg_end": loadavg(),
        "samples": samples,
        "elapsed_s": round(time.monotonic() - t_start, 1),
        "processes": processes,
    }
    if target.cluster:
        res["cluster"] = cluster_report(a, target, (n0, n1), dt, processes, probe.readers)
    bpt = res["bytes_per_trade_window"]
    res["projection_24h_gb"] = round(bpt * DAY_TRADES_ALL_BINANCE_SPOT / 1e9, 2)
    per = res["bytes_per_stored_trade_by_class"]
    trades_only = per.get("trades_zset", 0) + per.get("trades_stream", 0)
    res["bytes_per_trade_trades_only"] = round(trades_only, 1)
    res["projection_24h_gb_trades_only"] = round(trades_only * DAY_TRADES_ALL_BINANCE_SPOT / 1e9, 2)
    res["members_by_class"] = members
    res["memory_formula"] = memory_formula(
        breakdown,
        members,
        run_s=time.monotonic() - t_start,
        stored_per_s=res["stored_per_s"],
        active_symbols=res["active_symbols"],
        stream_retention_s=a.stream_retention_s,
    )
    return res


REDIS_SUM = "redis (sum)"


def redis_name(target: RedisTarget) -> str:
    """What ``cpu_pct.redis`` reads: the one server, or every node of the cluster."""
    return REDIS_SUM if target.cluster else "redis"


def proc_watch(target: RedisTarget, sim: SimProc, pid: int) -> ProcWatch:
    """orders run, the simulator and every redis-server: one (``redis``), or each node of
    the cluster (``redis primary:PORT``) and their sum (``redis (sum)``)."""
    pids = {"orders": pid, "sim": sim.proc.pid}
    if not target.cluster:
        return ProcWatch({**pids, "redis": target.nodes[0].pid}, {})
    nodes = {f"redis {n.name}": n.pid for n in target.nodes}
    return ProcWatch({**pids, **nodes}, {REDIS_SUM: list(nodes)})


def cluster_report(
    a: argparse.Namespace,
    target: RedisTarget,
    counters: tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]],
    dt: float,
    processes: dict[str, Any],
    probe_readers: int,
) -> dict[str, Any]:
    """The cluster's shape and each node's share: Lua calls and memory growth in the
    window, keys at its end, CPU % and RSS."""
    n0, n1 = counters
    nodes = {}
    for name, end in n1.items():
        start = n0.get(name, end)
        nodes[name] = {
            "lua_calls_per_s": round((end["evalsha_calls"] - start["evalsha_calls"]) / dt, 1),
            "used_memory_delta": end["used_memory"] - start["used_memory"],
            "keys_end": end["keys"],
            **{k: v for k, v in processes[f"redis {name}"].items() if k != "pid"},
        }
    return {
        "masters": CLUSTER_MASTERS,
        "replicas_per_master": a.cluster_replicas,
        "node_timeout_ms": CLUSTER_NODE_TIMEOUT_MS,
        "url": target.url,
        "probe_readers": probe_readers,
        "nodes": nodes,
    }


def watch_gaps(r: Any, seconds: float) -> int:
    """Sleep ``seconds``, reading the ingester's open-gaps-per-symbol gauge (its health
    record: the most open gap records any one symbol has) every second; the highest."""
    most, end = 0, time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        gaps = (health(r) or {}).get("gaps") or {}
        most = max(most, int(gaps.get("most_per_symbol") or 0))
    return most


def sim_symbols(sim: SimProc) -> list[str]:
    """Every symbol the simulator lists (TRADING and not), from its truth table."""
    return list(sim.ask("symbols")["symbols"])


def probe_symbols(symbols: list[str]) -> list[str]:
    """The busiest few (fixture order is rate order) plus a spread over the tail."""
    step = max(1, len(symbols) // 16)
    picked = symbols[:4] + symbols[4::step]
    return picked[:24]


def cli() -> None:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description="simulator -> orders run -> redis-server throughput")
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20000.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=15.0)
    p.add_argument("--settle", type=float, default=60.0)
    p.add_argument("--redis", choices=["distro", "embedded", "cluster"], default="distro")
    p.add_argument(
        "--cluster-replicas",
        type=int,
        default=0,
        help="with --redis cluster: replicas per master (default 0: 3 masters only)",
    )
    p.add_argument(
        "--probe-per-symbol",
        action="store_true",
        help="one server: one XREAD reader thread per probed symbol, as a cluster needs",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--market", default="spot", help="spot, usdm, coinm, or several: a,b")
    p.add_argument("--tag", default="")
    p.add_argument("--sample", action="store_true", help="stack-sample orders run (all threads)")
    p.add_argument("--switch-interval-ms", type=float, default=0.0, help="experiment: GIL")
    p.add_argument("--ws-recv-bytes", type=int, default=0, help="experiment: WS read size")
    p.add_argument(
        "--stream-retention-s",
        type=float,
        default=3600.0,
        help="the stream retention the 24 h memory formula assumes (orders run's default: 1h)",
    )
    p.add_argument("orders_args", nargs="*", help="extra `orders run` options (after --)")
    res = main(p.parse_args())
    summary = {k: v for k, v in res.items() if k not in ("samples", "sim", "args")}
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    cli()
