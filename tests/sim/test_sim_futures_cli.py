"""`orders sim --market usdm|coinm|spot,usdm,coinm` and scenario files with a market;
`orders run --simulate --market usdm` starts the USD-M simulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders_cli.sim.scenario import load_scenario
from tests.integration.cliproc import ROOT, cli_env, interrupt_after, orders_argv


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        # the banner as a table (off a terminal it is JSON by the output rule)
        [
            sys.executable,
            "-m",
            "orders_cli",
            "sim",
            "-o",
            "table",
            "--ws-port",
            "0",
            "--rest-port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _rest_urls(proc: subprocess.Popen[str], n: int) -> list[str]:
    assert proc.stdout is not None
    urls: list[str] = []
    for _ in range(12):
        line = proc.stdout.readline()
        if line.strip().startswith("rest"):
            urls.append(line.split("e.g. ")[1].rstrip(")\n"))
            if len(urls) == n:
                break
    return urls


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return err


def test_sim_market_usdm_serves_the_futures_paths() -> None:
    proc = _start("--market", "usdm", "--symbol-count", "3")
    try:
        [example] = _rest_urls(proc, 1)
        assert example.endswith("/fapi/v1/exchangeInfo")
        r = httpx.get(example, timeout=10)
        assert r.status_code == 200 and "assets" in r.json()
        assert all("status" in s for s in r.json()["symbols"])
    finally:
        _stop(proc)


def test_sim_serves_three_markets_in_one_process(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    proc = _start("--market", "spot,usdm,coinm", "--symbol-count", "3", "--truth", str(truth))
    try:
        examples = _rest_urls(proc, 3)
        assert [e.rsplit("/", 2)[1] for e in examples] == ["v3", "v1", "v1"]
        assert len({e.split("/")[2] for e in examples}) == 1  # one REST port
        for e in examples:
            assert httpx.get(e, timeout=10).status_code == 200, e
        coinm = httpx.get(examples[2], timeout=10).json()
        assert all("contractStatus" in s for s in coinm["symbols"])
    finally:
        _stop(proc)
    rows = [json.loads(x) for x in truth.read_text().splitlines()]
    assert {r["market"] for r in rows} == {"spot", "usdm", "coinm"}
    assert list(rows[0])[:2] == ["market", "s"]


@pytest.mark.parametrize("value", ["options", "usdm,usdm", ","])
def test_a_bad_market_is_one_line_exit_2(value: str) -> None:
    proc = _start("--market", value)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1 and "--market" in err


def test_a_scenario_names_its_market(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"market": "coinm", "fixture": {"n_symbols": 3}}))
    cfg = load_scenario(path)
    assert cfg.market == "coinm" and cfg.max_msgs_per_s == 10 and cfg.weight_budget == 2400
    assert all("_" in s.symbol for s in cfg.symbols)
    path.write_text(json.dumps({"fixture": {"n_symbols": 3}, "max_msgs_per_s": 4}))
    cfg = load_scenario(path, market="usdm")  # the command line overrides the file
    assert cfg.market == "usdm" and cfg.max_msgs_per_s == 4 and cfg.rest_history_s == 48 * 3600


@pytest.mark.integration
def test_run_simulate_market_usdm_starts_the_usdm_simulator(redis_server: Any) -> None:
    proc = subprocess.Popen(
        [*orders_argv("run", "--simulate", "--market", "usdm", "--redis-url", redis_server.url),
         "--sim-symbols", "5", "--sim-rate", "50", "--no-panel"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=cli_env(),
    )  # fmt: skip
    text = interrupt_after(proc, b"live: ")
    assert "live: 7 symbols" in text, text[-3000:]  # 5, the non-ASCII pair, an idle one
    assert "Not found" not in text and proc.returncode == 0, text[-3000:]
