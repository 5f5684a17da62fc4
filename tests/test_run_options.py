"""`orders run` options that tune the writer: shown with their defaults, refused when
malformed (a usage error, exit 2, before anything starts)."""

from __future__ import annotations

from typer.testing import CliRunner

from orders_cli.cli.app import app


def test_run_help_lists_coarse_bars_every_with_its_default_and_its_trade() -> None:
    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "--coarse-bars-every" in text
    assert "[default: 1s]" in text.split("--coarse-bars-every", 1)[1]
    assert "less CPU per trade" in text


def test_a_bare_number_for_coarse_bars_every_is_a_usage_error() -> None:
    out = CliRunner().invoke(app, ["run", "--coarse-bars-every", "5"])
    assert out.exit_code == 2
    assert "missing unit" in out.output
