"""The live panel of `orders run` in a small terminal: every line inside 80 columns, every
figure whole ("label value" on one line), what its terms mean, the keys and the next
command; log lines stamped in one UTC form, on the rich and the plain handler alike."""

from __future__ import annotations

import io
import logging
import os
import re
import termios

from rich.cells import cell_len
from rich.console import Console

from orders_cli.cli.console import log_handler, no_control_echo
from orders_cli.cli.render_run import logfmt, panel, stop_fields, stop_sentence
from orders_cli.health import snapshot
from orders_cli.telemetry import Telemetry

UTC_STAMP = re.compile(r"\b20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")


def _busy_telemetry() -> Telemetry:
    """Wide numbers everywhere, Redis near full, an error on a connection."""
    tel = Telemetry()
    for i in range(3):
        conn = tel.connection(f"spot#{i}")
        conn.set("live" if i else "backoff", "connection reset by peer while reading a frame")
        conn.streams, conn.messages, conn.reconnects = 1024, 123_456_789, 12
    tel.count("trades_stored", 1_234_567_890)
    for name in ("duplicates", "malformed", "dropped_overload", "late_trades"):
        tel.count(name, 12_345)
    tel.count("bar_corrections", 4_321)
    tel.count("out_of_range", 7)
    tel.count("gaps_opened", 98_765)
    tel.count("exchange_holes", 3)
    tel.count("rest_calls", 1_234_567)
    tel.symbols_subscribed, tel.symbols_listed = 1_503, 1_518
    tel.open_gaps, tel.backfill_queue, tel.channel_depth = 1_234_567, 12_345, 65_536
    tel.redis_state, tel.redis_used_memory, tel.redis_maxmemory = "ok", 900 * 2**20, 1024 * 2**20
    tel.redis_memory_rate = 2**20
    tel.latency_ms.extend([12_345.0, 23_456.0])
    tel.silent_symbols = ["IDLEUSDT", "QUIETBTC"]
    tel.example_symbol = "BTCUSDT"
    return tel


def _render(tel: Telemetry, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(panel(tel, 123_456.0, "orders run"))
    return console.export_text().splitlines()


FIGURES = (
    "123,456 trades/s",
    "stored 1,234,567,890",
    "symbols 1,503/1,518",
    "lag p50 12,345 ms",
    "lag p99 23,456 ms",
    "writer queue 65,536",
    "duplicates 12,345",
    "malformed 12,345",
    "out of range 7",
    "dropped 12,345",
    "late 12,345",
    "bar corrections 4,321",
    "gaps open 1,234,567 ids",
    "gaps opened 98,765",
    "exchange-side 3",
    "backfill queue 12,345",
    "REST calls 1,234,567",
    "silent 2 symbols",
)


def test_the_panel_at_80_columns_keeps_every_line_inside_and_every_figure_whole() -> None:
    lines = _render(_busy_telemetry(), 80)
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert not too_wide
    text = "\n".join(lines)
    broken = [f for f in FIGURES if f not in text]
    assert not broken, text


def test_the_panel_at_200_columns_shows_the_same_figures() -> None:
    lines = _render(_busy_telemetry(), 200)
    text = "\n".join(lines)
    assert all(cell_len(line) <= 200 for line in lines)
    assert not [f for f in FIGURES if f not in text], text


def test_the_panel_explains_its_terms_and_says_how_to_stop_and_what_to_try_next() -> None:
    inside = [line.strip("│ ") for line in _render(_busy_telemetry(), 80)]
    text = " ".join(" ".join(inside).split())
    assert "symbols: live/listed" in text
    assert "lag: from the trade's time at the exchange to stored in Redis" in text
    assert "writer queue: received, not yet written" in text
    assert "Ctrl-C stops" in text
    assert "orders tail BTCUSDT" in text


def test_the_panel_counts_the_silent_symbols_status_lists() -> None:
    tel = _busy_telemetry()
    tel.silent_symbols = ["A", "B", "C"]
    assert any("silent 3 symbols" in line for line in _render(tel, 80))
    assert snapshot(tel, "host-1")["silent_symbols"] == ["A", "B", "C"]  # what status names


def _record(msg: str) -> logging.LogRecord:
    rec = logging.LogRecord("orders.run", logging.INFO, __file__, 1, msg, None, None)
    rec.created = 1_796_397_650.0  # 2026-12-04T15:20:50Z
    return rec


def test_log_lines_carry_one_utc_timestamp_form_on_the_rich_and_the_plain_handler() -> None:

    console = Console(width=120, record=True, color_system=None)
    rich_handler = log_handler(json_logs=False, tty=True, console=console)
    rich_handler.handle(_record("live: 3 symbols"))
    rich_text = console.export_text()
    assert "2026-12-04T15:20:50Z" in rich_text, rich_text

    plain = log_handler(json_logs=False, tty=False, console=None)
    assert plain.formatter is not None
    line = plain.formatter.format(_record("live: 3 symbols"))
    assert line.startswith("2026-12-04T15:20:50Z INFO orders.run: live: 3 symbols"), line
    assert UTC_STAMP.findall(line) == ["2026-12-04T15:20:50Z"]


def test_a_stopped_run_ends_with_a_sentence_on_a_terminal_and_logfmt_off_it() -> None:
    tel = Telemetry()
    tel.count("trades_stored", 82_916)
    tel.count("duplicates", 1)
    tel.history.symbols_total, tel.history.symbols_done = 303, 291
    fields = stop_fields(tel, 164.2, "stopped")
    assert stop_sentence(fields) == (
        "stopped after 2m44s: 82,916 trades stored, 1 duplicate dropped, 0 ids in open "
        "gaps; the backfill of 12 symbols resumes on the next start; embedded Redis stopped"
    )
    line = logfmt(fields)
    assert line.startswith("after_s=164.2 stored=82916 dup=1 ")
    assert line.endswith(" backfill_resumes=12 embedded_redis=stopped")
    tel.history.complete_after_s = 41.0
    assert stop_sentence(stop_fields(tel, 3.0, None)) == (
        "stopped after 3s: 82,916 trades stored, 1 duplicate dropped, 0 ids in open gaps"
    )


def test_the_control_key_echo_is_off_while_the_panel_draws_and_restored_after() -> None:
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=False) as tty:
            assert termios.tcgetattr(slave)[3] & termios.ECHOCTL
            with no_control_echo(tty):
                assert not termios.tcgetattr(slave)[3] & termios.ECHOCTL
            assert termios.tcgetattr(slave)[3] & termios.ECHOCTL
        with no_control_echo(io.StringIO()):  # not a terminal: nothing to do
            pass
    finally:
        os.close(master)
        os.close(slave)
