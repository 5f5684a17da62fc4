"""The CLI shell: help lists every command; usage errors are one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from orders_cli.cli import app as app_module
from orders_cli.cli import options
from orders_cli.cli.app import app
from orders_cli.errors import ExchangeUnavailable, OrdersError, RedisUnavailable, UsageError

COMMANDS = ["run", "tail", "stats", "prune", "verify", "status", "reset", "sim"]


def _orders(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orders_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command() -> None:
    out = _orders("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


def test_unknown_option_is_one_line_exit_2() -> None:
    out = _orders("--no-such-option")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "Traceback" not in out.stderr
    assert "no-such-option" in out.stderr


def test_version() -> None:
    out = _orders("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("orders ")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    out = CliRunner().invoke(app, [command, "--help"])  # in-process: fast
    assert out.exit_code == 0, out.output
    assert "Usage:" in out.output


# --- main(): errors become one line and the documented exit code ---------------------
def _main_with(monkeypatch: pytest.MonkeyPatch, body: Callable[..., None]) -> click.Command:
    """Register a throw-away `probe` command on the real app (undone after the test)."""
    monkeypatch.setattr(app_module.app, "registered_commands", list(app.registered_commands))
    app.command("probe")(body)
    return typer.main.get_command(app)


def _run_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        app_module.main(args)
    code = info.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad thing"), 2),
        (RedisUnavailable("cannot reach Redis at redis://h:1: refused"), 3),
        (ExchangeUnavailable("exchange down"), 4),
        (OrdersError("problems found"), 1),
    ],
)
def test_orders_errors_map_to_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception, code: int
) -> None:
    def probe() -> None:
        raise error

    _main_with(monkeypatch, probe)
    assert _run_main(["probe"]) == code
    err = capsys.readouterr().err
    assert err == f"orders: error: {error}\n"


def test_bad_option_value_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def probe(redis_url: str | None = options.redis_url_option()) -> None:
        raise AssertionError("must not run with a bad URL")

    _main_with(monkeypatch, probe)
    assert _run_main(["probe", "--redis-url", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--redis-url" in err
    assert "redis://" in err


def test_bad_env_value_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def probe(market: str = options.market_option()) -> None:
        raise AssertionError("must not run with a bad market")

    _main_with(monkeypatch, probe)
    monkeypatch.setenv("ORDERS_MARKET", "margin")
    assert _run_main(["probe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "margin" in err


def test_keyboard_interrupt_is_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe() -> None:
        raise KeyboardInterrupt

    _main_with(monkeypatch, probe)
    assert _run_main(["probe"]) == 130


# --- the man page documents what the code does ---------------------------------------
MAN = Path(__file__).resolve().parent.parent / "man" / "orders.1"


def test_man_page_lists_every_command_and_exit_code() -> None:
    text = MAN.read_text()
    for command in COMMANDS:
        assert f"orders {command}" in text or f"\\fB{command}\\fR" in text, command
    for exc in (UsageError, RedisUnavailable, ExchangeUnavailable, OrdersError):
        assert f"\n.B {exc.exit_code}\n" in text or f".IP {exc.exit_code}\n" in text, exc
    for var in ("ORDERS_REDIS_URL", "ORDERS_WS_URL", "ORDERS_REST_URL", "ORDERS_MARKET"):
        assert var in text


def test_run_rejects_an_unknown_bar_timeframe() -> None:
    out = _orders("run", "--bars", "1m,7m", "--redis-url", "redis://127.0.0.1:1/0")
    assert out.returncode == 2
    assert "7m" in out.stderr and out.stderr.strip().count("\n") == 0


def test_readme_lists_every_environment_variable() -> None:
    """Every ``envvar`` of every command is in README.md's table (``ORDERS_SIM_*`` by its
    suffix in the sim row): a new option cannot be documented nowhere."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    missing = []
    for name, command in root.commands.items():
        for param in command.params:
            envvars = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
            for var in filter(None, envvars):
                documented = (
                    f"`{var.removeprefix('ORDERS_SIM_')}`" in readme
                    if var.startswith("ORDERS_SIM_")
                    else f"`{var}`" in readme
                )
                if not documented:
                    missing.append(f"{name}: {var}")
    assert not missing


def test_piped_tables_are_not_squashed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped (not a terminal) the report console is wide; COLUMNS still decides."""
    from orders_cli.cli.console import PIPE_WIDTH, out_console

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert out_console().width == PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert out_console().width == 100
