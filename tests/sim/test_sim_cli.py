"""`orders sim`: prints URLs, serves, Ctrl-C exits 0 and writes the truth; port in use -> 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orders_cli.sim.scenario import ScenarioError, load_scenario


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orders_cli", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serves_until_ctrl_c_and_writes_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    proc = _start(
        "--ws-port",
        "0",
        "--rest-port",
        "0",
        "--symbols",
        "5",
        "--rate",
        "200",
        "--truth",
        str(truth),
    )
    try:
        assert proc.stdout is not None
        banner = json.loads(proc.stdout.readline())  # a pipe: the banner as JSON
        rest_url = banner["rest_url"]
        assert rest_url and rest_url.startswith("http://127.0.0.1:")
        r = httpx.get(rest_url + "/api/v3/aggTrades", params={"symbol": "BTCUSDT"}, timeout=10)
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    rows = [json.loads(x) for x in truth.read_text().splitlines()]
    assert rows and list(rows[0]) == ["s", "a", "p", "q", "f", "l", "T", "m", "E"]


def test_port_in_use_is_one_line_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = _start("--ws-port", port, "--rest-port", "0", "--symbols", "3")
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1 and "port in use" in err


def test_scenario_json_and_toml(tmp_path: Path) -> None:
    body = {
        "seed": 9,
        "history_s": 10,
        "ping_interval_s": 5,
        "symbols": [{"symbol": "AAAUSDT", "rate": 3, "first_id": 4294967296, "price": "1.5"}],
        "faults": {
            "drop": 0.01,
            "stall": {"at": [30]},
            "stall_s": 2,
            "holes": [["AAAUSDT", 10, 20]],
            "listings": [{"at": 60, "symbol": {"symbol": "NEWUSDT", "rate": 1}}],
            "status_changes": [{"at": 90, "symbol": "AAAUSDT", "status": "BREAK"}],
        },
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(body))
    cfg = load_scenario(path)
    assert cfg.seed == 9 and cfg.ping_interval_s == 5
    assert [s.symbol for s in cfg.symbols] == ["AAAUSDT"]
    assert cfg.faults.drop.rate == 0.01 and cfg.faults.stall.at == (30.0,)
    assert cfg.faults.listings[0][1].symbol == "NEWUSDT"
    toml = tmp_path / "s.toml"
    toml.write_text(
        "seed = 3\n[fixture]\nn_symbols = 10\ntotal_rate = 50.0\n[faults]\nduplicate = 0.5\n"
    )
    cfg = load_scenario(toml)
    assert cfg.seed == 3 and cfg.faults.duplicate.rate == 0.5
    assert sum(1 for s in cfg.symbols if s.status == "TRADING") >= 10
    bad = tmp_path / "bad.json"
    bad.write_text('{"nope": 1}')
    with pytest.raises(ScenarioError):
        load_scenario(bad)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "orders_cli/sim/SCENARIO.md").read_text()
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.json"
    path.write_text(example)
    cfg = load_scenario(path)
    assert cfg.faults.holes == (("BTCUSDT", 3000000100, 3000000120),)
    assert any(s.symbol == "币安人生USDT" for s in cfg.symbols)
