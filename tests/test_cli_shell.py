"""The CLI shell: help lists every command; usage errors are one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

COMMANDS = ["run", "tail", "stats", "prune", "verify", "status", "sim"]


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
