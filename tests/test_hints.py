"""Hints that work when pasted: commands are named the way the user launched orders
(`./scripts/run verify …` under scripts/run), and the errors a new user meets say what
to do next."""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Any

import pytest

from orders_cli.hints import command
from tests.integration.cliproc import ROOT, cli_env
from tests.ops.helpers import run_main, store, trade

NOW_MS = 1_760_000_000_000


def test_a_command_hint_names_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERS_LAUNCHER", raising=False)
    assert command("verify --since 1h") == "orders verify --since 1h"
    monkeypatch.setenv("ORDERS_LAUNCHER", "./scripts/run")
    assert command("verify --since 1h") == "./scripts/run verify --since 1h"


class _Sim:
    """What ``_advertise`` reads of a simulator serving ``markets``."""

    def __init__(self, *markets: str) -> None:
        self.markets, self.rest_url = list(markets), "http://y"

    def ws_url_for(self, market: str) -> str:
        return f"ws://x/{market}"


def test_the_simulators_verify_hint_says_it_the_way_the_user_launched_orders(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from orders_cli.cli.run_loop import _advertise
    from orders_cli.config import RunConfig

    monkeypatch.setenv("ORDERS_LAUNCHER", "./scripts/run")
    with caplog.at_level(logging.INFO):
        _advertise(RunConfig(redis_url="redis://127.0.0.1:7/0"), _Sim("spot"))
        _advertise(RunConfig(redis_url="redis://127.0.0.1:7/0"), _Sim("spot", "usdm"))
    assert "./scripts/run verify --redis-url redis://127.0.0.1:7/0 --rest-url http://y" in (
        caplog.text
    )
    assert (
        "./scripts/run verify --redis-url redis://127.0.0.1:7/0 --market spot,usdm "
        "--rest-url http://y" in caplog.text
    )


def test_scripts_run_exports_its_name_and_a_bad_value_points_at_the_subcommands_help() -> None:
    env = cli_env()
    if os.environ.get("ORDERS_VENV"):
        env["ORDERS_VENV"] = os.environ["ORDERS_VENV"]
    out = subprocess.run(
        ["./scripts/run", "stats", "BTCUSDT", "--last", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().endswith("(see: ./scripts/run stats --help)"), out.stderr


def test_a_bad_option_value_points_at_the_subcommands_help(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_LAUNCHER", raising=False)
    rc, _out, err = run_main(capfd, "tail", "BTCUSDT", "--count", "0")
    assert rc == 2
    assert err.strip().endswith("(see: orders tail --help)"), err


@pytest.mark.parametrize("args", [["tail", "BTCUSDT"], ["stats", "BTCUSDT"]])
def test_an_empty_store_says_nothing_is_stored_yet(
    redis_shared: Any, capfd: pytest.CaptureFixture[str], args: list[str]
) -> None:
    rc, _out, err = run_main(capfd, *args, "--redis-url", redis_shared.url)
    assert rc == 2
    assert "nothing stored yet" in err and "start `orders run`" in err, err


@pytest.mark.parametrize("command_name", ["tail", "stats"])
def test_an_unknown_symbol_gets_the_same_hint_in_tail_and_stats(
    redis_shared: Any, capfd: pytest.CaptureFixture[str], command_name: str
) -> None:
    from orders_cli.store.keys import Keyspace

    store(redis_shared.client(), Keyspace(), [trade("BTCUSDT", 1, NOW_MS)])
    rc, _out, err = run_main(capfd, command_name, "BTCUSDX", "--redis-url", redis_shared.url)
    assert rc == 2 and "did you mean BTCUSDT?" in err, err
    rc, _out, err = run_main(capfd, command_name, "NOPE", "--redis-url", redis_shared.url)
    assert rc == 2 and "unknown symbol 'NOPE'" in err and "1 stored: BTCUSDT" in err, err


def test_an_unreachable_redis_says_how_to_use_the_embedded_one(
    capfd: pytest.CaptureFixture[str],
) -> None:
    rc, _out, err = run_main(capfd, "stats", "BTCUSDT", "--redis-url", "redis://127.0.0.1:1/0")
    assert rc == 3
    assert "is redis-server running? omit --redis-url for the embedded one" in err, err


def test_verify_on_an_empty_store_warns_and_exits_1(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    rc, _out, err = run_main(
        capfd,
        "verify",
        "--json",
        "--redis-url",
        redis_shared.url,
        "--rest-url",
        "http://127.0.0.1:1",
    )
    assert rc == 1, err
    assert "0 symbols checked" in err and "nothing stored yet" in err, err


def test_the_history_complete_line_names_the_market_its_commands_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orders_cli.ingest.ingester import ready_line

    monkeypatch.setenv("ORDERS_LAUNCHER", "./scripts/run")
    assert ready_line(303, "spot", 41.0) == (
        "303 symbols live, history complete in 41s: `./scripts/run verify` and "
        "`./scripts/run tail --since` see every trade of the window from now on"
    )
    usdm = ready_line(12, "usdm", 3.0)
    assert usdm.startswith("12 usdm symbols live, history complete in 3s: ")
    assert "`./scripts/run verify --market usdm`" in usdm
    assert "`./scripts/run tail --market usdm --since`" in usdm
