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

EXTRAS = 3  # the fixture's scenario symbols that trade: non-ASCII, TRD_GRP-only, idle


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
        "--symbol-count",
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
        proc = _start("--ws-port", port, "--rest-port", "0", "--symbol-count", "3")
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


def _help(*command: str) -> str:
    from typer.testing import CliRunner

    from orders_cli.cli.app import app

    out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    return out.output


def test_sim_help_names_a_count_a_count_shows_defaults_and_takes_durations() -> None:
    text = _help("sim")
    assert "--symbol-count" in text
    assert "--symbols " not in text  # a list everywhere else: hidden here
    assert "DURATION" in text  # --history 10m
    for default in ("300", "200", "1", "9443", "9080", "0"):
        assert f"[default: ({default})]" in text, default


def test_history_is_a_duration_and_symbol_count_a_count() -> None:
    from orders_cli.cli.cmd_sim import build_config

    cfg = build_config(None, None, 5, None, "10m", 0, 0)
    assert cfg.history_s == 600.0
    assert sum(1 for s in cfg.symbols if s.status == "TRADING") == 5 + EXTRAS


def test_a_bare_number_of_history_is_a_usage_error() -> None:
    proc = _start("--history", "600", "--ws-port", "0", "--rest-port", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "missing unit" in err


def _banner(*args: str) -> tuple[str, str]:
    """Start ``orders sim ARGS``, read its banner (until the Ctrl-C line), stop it."""
    proc = _start("--ws-port", "0", "--rest-port", "0", "--symbol-count", "3", *args)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while lines[-1] and "Ctrl-C" not in lines[-1] and not lines[-1].startswith("{"):
            lines.append(proc.stdout.readline())  # "" at EOF: the child exited
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return "".join(lines), err


def test_the_banner_prints_the_command_that_ingests_from_it() -> None:
    text, _ = _banner("-o", "table")
    ws = text.split("ws   ")[1].split()[0]
    rest = text.split("rest ")[1].split()[0]
    assert f"orders run --ws-url {ws} --rest-url {rest}" in text
    doc, _ = _banner()  # a pipe: the banner as JSON
    banner = json.loads(doc)
    assert (
        banner["ingest"]
        == f"orders run --ws-url {banner['ws_url']} --rest-url {banner['rest_url']}"
    )


def test_the_old_symbols_option_still_counts_but_warns() -> None:
    proc = _start("--ws-port", "0", "--rest-port", "0", "--symbols", "3")
    try:
        assert proc.stdout is not None
        banner = json.loads(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert banner["trading"] == 3 + EXTRAS
    assert "--symbols is deprecated" in err and "--symbol-count" in err


def test_the_shipped_scenarios_load_and_chaos_reconnects_and_drops() -> None:
    from orders_cli.cli.cmd_sim import SCENARIOS, resolve_scenario

    assert {"calm", "chaos"} <= set(SCENARIOS)
    for name in SCENARIOS:
        load_scenario(resolve_scenario(name))
    chaos = load_scenario(resolve_scenario("chaos.json"))  # the docs' spelling
    f = chaos.faults
    assert f.abort.at and min(f.abort.at) <= 30  # a reconnect within the first half minute
    assert f.stall.at and f.drop.rate > 0  # gaps the ingester must backfill
    doc = (Path(__file__).parents[2] / "orders_cli/sim/SCENARIO.md").read_text()
    for name in SCENARIOS:
        assert f"`{name}`" in doc, name


def test_an_unknown_scenario_names_the_shipped_ones() -> None:
    proc = _start("--scenario", "nope", "--ws-port", "0", "--rest-port", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "chaos" in err and len(err.strip().splitlines()) == 1


def test_run_simulate_can_pick_a_scenario_and_a_seed() -> None:
    text = _help("run")
    assert "--sim-scenario" in text and "--sim-seed" in text
    from orders_cli.cli.cmd_run import simulator_config

    (cfg,) = simulator_config("chaos", 7, None, None)
    assert cfg.seed == 7 and cfg.faults.abort.at
    assert cfg.ws_port == 0 and cfg.rest_port == 0  # any free port: run picks them
    (plain,) = simulator_config(None, None, 5, 50.0)
    assert sum(1 for s in plain.symbols if s.status == "TRADING") == 5 + EXTRAS


def test_run_simulate_of_several_markets_gives_the_scenario_to_the_first_and_shares_the_rate() -> (
    None
):
    from orders_cli.cli.cmd_run import simulator_config

    spot, usdm = simulator_config("chaos", 7, None, None, ["spot", "usdm"])
    assert (spot.market, usdm.market) == ("spot", "usdm")
    assert spot.faults.abort.at and not usdm.faults.abort.at
    assert spot.seed == usdm.seed == 7
    shared = simulator_config(None, None, 5, 90.0, ["spot", "usdm", "coinm"])
    assert [c.total_rate for c in shared] == [30.0, 30.0, 30.0]
    assert [c.market for c in shared] == ["spot", "usdm", "coinm"]
