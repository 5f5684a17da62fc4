"""One output rule for every command: human tables on a terminal, machine output (JSON)
anywhere else, ``-o json|table`` (``--json`` = ``-o json``) to choose."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from rich.console import Console
from typer.testing import CliRunner

from orders_cli.cli.app import app
from orders_cli.cli.console import decide_json
from orders_cli.stats.bars import Bar
from tests.test_cli_shell import COMMANDS


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("choice", "json_flag", "tty", "want_json"),
    [
        (None, False, True, False),  # a terminal: tables
        (None, False, False, True),  # a pipe or a file: JSON
        ("table", False, False, False),  # -o table into a pipe
        ("json", False, True, True),  # -o json on a terminal
        (None, True, True, True),  # --json is -o json
    ],
)
def test_the_output_rule_is_tables_on_a_terminal_and_json_elsewhere_unless_o_says(
    choice: str | None, json_flag: bool, tty: bool, want_json: bool
) -> None:
    assert decide_json(choice, json_flag, _Stream(tty)) is want_json


def test_o_table_and_json_together_is_a_usage_error() -> None:
    from orders_cli.errors import UsageError

    with pytest.raises(UsageError):
        decide_json("table", True, _Stream(True))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_o_json_or_table_and_the_json_alias(command: str) -> None:
    out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for flag in ("-o", "--output", "--json"):
        assert flag in out.output, (command, flag)
    assert "json|table" in out.output


def test_a_bad_o_value_is_a_usage_error() -> None:
    out = CliRunner().invoke(app, ["stats", "BTCUSDT", "-o", "yaml"])
    assert out.exit_code == 2


def _bar() -> Bar:
    p = Decimal("65000.01")
    return Bar(1_700_000_040_000, p, Decimal("65010.5"), Decimal("64990"), p,
               Decimal("3"), Decimal("195000.0301"), 3, 5, 10, 12, 100, 104, 1,
               Decimal("1"), Decimal("65000.01"), 1_700_000_059_999)  # fmt: skip


def _text(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_the_bars_table_shows_decimals_as_stored_places_not_a_16_digit_vwap() -> None:
    from orders_cli.cli.render_stats import bars_table

    text = _text(bars_table("BTCUSDT", "1m", [_bar()]))
    # vwap = 195000.0301 / 3 = 65000.010033333...: shown to the prices' places
    assert "65000.01 " in text and "65000.0100333" not in text
    # one column, one number of places: 65010.50, 64990.00 (not 65010.5 and 64990)
    assert "65010.50" in text and "64990.00" in text


def test_the_current_window_shows_epoch_ms_beside_a_utc_time() -> None:
    from orders_cli.cli.render_stats import current_table

    fields: dict[str, int | str] = {
        "window_start": 1_700_000_040_000,
        "last_update_time": 1_700_000_040_050,
        "trades_count": 3,
        "close_price": "65000.01",
    }
    text = _text(current_table("BTCUSDT", fields))
    assert "2023-11-14 22:14:00.000 UTC (1700000040000)" in text
    assert "2023-11-14 22:14:00.050 UTC (1700000040050)" in text


def _lines(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def _bars_of_a_day(n: int) -> list[Bar]:
    return [_bar()._replace(window_start=1_700_000_040_000 + 60_000 * i) for i in range(n)]


def test_the_bars_table_at_80_columns_keeps_whole_headers_and_values_and_says_what_it_hid() -> None:
    from orders_cli.cli.render_stats import bars_table

    lines = _lines(bars_table("BTCUSDT", "1m", _bars_of_a_day(5)), 80)
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in text
    for header in ("open", "high", "low", "close", "volume", "trades"):
        assert header in text
    assert "65010.50" in text and "22:14" in text and "2023-11-14" in text
    assert "-o json" in text  # the hidden columns are named, and where to find them
    wide = "\n".join(_lines(bars_table("BTCUSDT", "1m", _bars_of_a_day(5)), 200))
    assert "quote vol" in wide and "vwap" in wide and "-o json" not in wide


def test_the_verify_report_at_80_columns_keeps_symbols_and_id_ranges_whole() -> None:
    from orders_cli.cli.render_verify import render
    from orders_cli.ops.verify_ids import IdRange
    from orders_cli.ops.verify_report import SymbolReport, VerifyReport

    ok = SymbolReport(
        "ETHUSDT", stored=3486, first_id=2479762417, last_id=2479765902, rest_head=2479765902
    )
    bad = SymbolReport("BTCUSDT", stored=7620, first_id=0, last_id=7621, rest_head=7621)
    bad.missing = [IdRange(17, 18)]
    lines = _lines(render(VerifyReport(since_ms=0, symbols=[ok, bad])), 80)
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in text
    assert "ETHUSDT" in text and "2479762417..2479765902" in text
    assert "PROBLEM" in text and "2: 17-18" in text
