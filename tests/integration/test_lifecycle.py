"""`orders run` as a real process: Ctrl-C mid-stream exits 0 quickly and leaves Redis
consistent (no duplicate, every stored trade exact, every missing id accounted for);
start-up errors are one line with the documented exit code."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import orjson
import pytest
import trio

from orders_cli.sim import SimConfig, Simulator
from orders_cli.store import gaps as gapops
from tests.integration.cliproc import (
    ROOT,
    cli_env,
    collect,
    orders_argv,
    stop_summary,
    stored_count,
)
from tests.integration.harness import KS, expected_member, stored
from tests.integration.replay_server import wait_for
from tests.redis_server import free_port

pytestmark = pytest.mark.integration


def _accounted(r: Any, truth: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Problems: duplicates, members that differ from the truth, and missing ids that are
    neither in a recorded gap nor above the symbol's watermark (silent loss)."""
    problems: list[str] = []
    for symbol, rows in truth.items():
        want = {row["a"]: row for row in rows}
        members = stored(r, symbol)
        ids = [int(m["agg_trade_id"]) for m in members]
        if len(ids) != len(set(ids)):
            problems.append(f"{symbol}: {len(ids) - len(set(ids))} duplicates")
        for m in members:
            row = want.get(int(m["agg_trade_id"]))
            body = {k: v for k, v in m.items() if k != "event_time"}
            if row is None or body != expected_member(row):
                problems.append(f"{symbol}: stored {m} vs truth {row}")
            elif m["event_time"] not in (row["E"], row["T"]):
                problems.append(f"{symbol}: event_time {m['event_time']} vs {row}")
        stream_ids = [int(f[b"a"]) for _, f in r.xrange(KS.trades_stream(symbol))]
        if sorted(stream_ids) != sorted(ids):
            problems.append(f"{symbol}: stream {len(stream_ids)} entries vs zset {len(ids)}")
        state = r.hgetall(KS.state(symbol))
        wm_raw = state.get(b"watermark")
        watermark = int(wm_raw) if wm_raw else None
        gaps = gapops.decode_gaps(state.get(b"gaps"))
        have = set(ids)
        for a in sorted(set(want) - have):
            if watermark is None or a > watermark:
                continue  # never seen live (no watermark) or after the last one seen
            if gapops.find(gaps, a) is None:
                problems.append(f"{symbol}: id {a} missing, not in a gap (wm={watermark})")
                break
    return problems


@pytest.mark.parametrize("json_logs", [False, True])
async def test_sigint_mid_stream_exits_0_and_leaves_redis_consistent(
    redis_server: Any, json_logs: bool
) -> None:
    """With --json-logs every line is JSON, the exit summary too, its figures as fields."""
    sim = Simulator(SimConfig.from_fixture(n_symbols=80, seed=21, total_rate=3000.0))
    r = redis_server.client()
    err = bytearray()
    eof = trio.Event()
    with trio.fail_after(40):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            symbols = list(sim.truth_by_symbol())
            argv = orders_argv(
                "run",
                "--redis-url", redis_server.url,
                "--ws-url", sim.ws_url,
                "--rest-url", sim.rest_url,
                "--no-panel",
                *(["--json-logs"] if json_logs else []),
            )  # fmt: skip
            proc = await trio.lowlevel.open_process(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=cli_env(),
            )
            n.start_soon(collect, proc.stderr, err, eof)
            try:
                # live and writing batches at a high rate: then Ctrl-C
                await wait_for(lambda: stored_count(r, symbols) > 3000, interval=0.1)
                proc.send_signal(signal.SIGINT)
                started = trio.current_time()
                with trio.fail_after(5):
                    rc = await proc.wait()
                elapsed = trio.current_time() - started
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            with trio.fail_after(5):
                await eof.wait()  # every line the process wrote
            sim.stop_trading()
            n.cancel_scope.cancel()
    stderr = err.decode()
    assert rc == 0, stderr[-3000:]
    assert elapsed < 5.0
    assert "Traceback" not in stderr, stderr[-3000:]
    truth = sim.truth_by_symbol()
    problems = await trio.to_thread.run_sync(_accounted, r, truth)
    assert not problems, problems[:10]
    # the exit summary counts what was written: it is all in Redis
    if json_logs:
        records = [orjson.loads(line) for line in stderr.splitlines()]  # each line JSON
        summary = [rec for rec in records if rec["msg"] == "stopped"]
        assert summary, stderr[-3000:]
        fields = summary[-1]
    else:
        fields = stop_summary(stderr)
    assert int(fields["stored"]) == stored_count(r, symbols) > 3000


async def _run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(20):
        return await trio.run_process(
            orders_argv(*args),
            check=False,
            capture_stdout=True,
            capture_stderr=True,
            cwd=ROOT,
            env=cli_env(),
        )


def _one_line(stderr: bytes) -> str:
    text = stderr.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


async def test_redis_unreachable_at_start_is_one_line_exit_3() -> None:
    port = free_port()  # nothing listens there
    done = await _run_cli(
        "run",
        "--redis-url", f"redis://127.0.0.1:{port}/0",
        "--ws-url", "ws://127.0.0.1:9",
        "--rest-url", "http://127.0.0.1:9",
        "--no-panel",
    )  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    line = _one_line(done.stderr)
    assert line.startswith("orders: error:") and str(port) in line, line


@pytest.mark.parametrize("ws_url", ["http://127.0.0.1:9443", "not-a-url", "ws://"])
async def test_bad_ws_url_is_one_line_exit_2(redis_server: Any, ws_url: str) -> None:
    done = await _run_cli(
        "run",
        "--redis-url", redis_server.url,
        "--ws-url", ws_url,
        "--rest-url", "http://127.0.0.1:9",
        "--no-panel",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr.decode()
    line = _one_line(done.stderr)
    assert "ws" in line.lower() and "url" in line.lower(), line
    # nothing was written
    client = redis_server.client()
    assert client.dbsize() == 0
