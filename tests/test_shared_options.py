"""What every command shares besides the output rule: -q/--quiet and -v/--verbose (one
definition), a closed stdout (``| head``) ends quietly, and the scripts install only what
they need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orders_cli.cli.app import app
from tests.test_cli_shell import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_quiet_and_verbose(command: str) -> None:
    out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for flag in ("-q", "--quiet", "-v", "--verbose"):
        assert flag in out.output, (command, flag)


def test_quiet_and_verbose_together_is_a_usage_error() -> None:
    out = CliRunner().invoke(app, ["status", "-q", "-v"])
    assert out.exit_code == 2


def _orders_into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``orders ARGS | head`` where head has already gone: stdout is a pipe with no reader
    (its read end closed before the child starts), so the first write fails (EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "orders_cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


def test_a_command_writing_to_a_closed_pipe_exits_0_without_a_traceback() -> None:
    for args in (["--help"], ["stats", "--help"], ["sim", "--help", "-o", "table"]):
        done = _orders_into_a_closed_pipe(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stderr == b"", (args, done.stderr)


def _fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv whose python only records its arguments (no real install)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    py = venv / "bin" / "python"
    py.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    py.chmod(0o755)
    return venv, log


@pytest.mark.parametrize(
    ("profile", "spec"),
    [("run", "[dev]"), ("dev", "[dev]")],
)
def test_venv_sh_installs_the_run_or_the_dev_profile(
    tmp_path: Path, profile: str, spec: str
) -> None:
    venv, log = _fake_venv(tmp_path)
    env = {**os.environ, "ORDERS_VENV": str(venv)}
    subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/_venv.sh" {profile}'],
        env=env,
        check=True,
        timeout=60,
    )
    installed = log.read_text().split()
    target = installed[installed.index("-e") + 1]
    if profile == "run":
        assert target == str(ROOT), installed  # what running needs: no dev tools
    else:
        assert target == f"{ROOT}{spec}", installed


def test_a_dev_install_serves_run_but_a_run_install_does_not_serve_the_tests(
    tmp_path: Path,
) -> None:
    venv, log = _fake_venv(tmp_path)
    env = {**os.environ, "ORDERS_VENV": str(venv)}

    def source(profile: str) -> int:
        before = log.read_text().count("install") if log.exists() else 0
        subprocess.run(
            ["bash", "-c", f'source "{ROOT}/scripts/_venv.sh" {profile}'],
            env=env,
            check=True,
            timeout=60,
        )
        return log.read_text().count("install") - before

    assert source("run") == 1
    assert source("run") == 0  # installed once
    assert source("dev") == 1  # the tests need the dev tools on top
    assert source("run") == 0  # the dev install holds everything running needs


@pytest.mark.parametrize(
    ("script", "profile"),
    [("run", "run"), ("test", "dev"), ("check", "dev")],
)
def test_each_script_asks_for_its_profile(script: str, profile: str) -> None:
    text = (ROOT / "scripts" / script).read_text()
    assert f'_venv.sh" {profile}' in text
