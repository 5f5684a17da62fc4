"""Rich rendering for ``orders verify`` (report -> tables). Only the CLI imports this."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from orders_cli.cli.console import Fit
from orders_cli.clock import utc_text
from orders_cli.ops.verify_ids import IdRange, total
from orders_cli.ops.verify_report import SymbolReport, VerifyReport, unrecoverable_note

MAX_RANGES = 5
MAX_BAR_ROWS = 30


def _ranges(ranges: Sequence[IdRange]) -> str:
    if not ranges:
        return "-"
    shown = [str(r.first) if r.size == 1 else f"{r.first}-{r.last}" for r in ranges[:MAX_RANGES]]
    more = f" (+{len(ranges) - MAX_RANGES} ranges)" if len(ranges) > MAX_RANGES else ""
    return f"{total(ranges)}: " + ", ".join(shown) + more


def _window(s: SymbolReport) -> list[IdRange]:
    return [] if s.missing_window is None else [s.missing_window]


_time = utc_text


def _stream(s: SymbolReport) -> str:
    parts = []
    if s.stream_missing:
        parts.append(f"lacks {_ranges(s.stream_missing)}")
    if s.stream_extra:
        parts.append(f"extra {_ranges(s.stream_extra)}")
    if s.stream_duplicates:
        parts.append(f"{len(s.stream_duplicates)} dup ids")
    return "; ".join(parts) or "ok"


def _bars(s: SymbolReport) -> str:
    """``problems/compared`` (bars recomputed + klines compared), ``-`` if not asked."""
    if s.bars_compared is None and s.klines_compared is None:
        return "-"
    compared = (s.bars_compared or 0) + (s.klines_compared or 0)
    return f"{len(s.bar_problems)}/{compared}"


def _title(report: VerifyReport) -> str:
    return f"orders verify · trades since {_time(report.since_ms)} UTC"


def _status(s: SymbolReport) -> Text:
    return Text("ok", style="green") if s.problems == 0 else Text("PROBLEM", style="bold red")


def _ids(s: SymbolReport) -> str:
    return "-" if s.first_id is None else f"{s.first_id}..{s.last_id}"


def _head(s: SymbolReport) -> str:
    return "-" if s.rest_head is None else str(s.rest_head)


def _missing(s: SymbolReport) -> str:
    return _ranges(s.missing + s.unverified + _window(s))


def _dups(s: SymbolReport) -> int:
    return sum(n - 1 for n in s.duplicates.values())


def symbols_table(report: VerifyReport) -> Table:
    table = Table(title=_title(report), title_justify="left")
    for name, justify in (
        ("symbol", "left"),
        ("status", "left"),
        ("stored", "right"),
        ("ids", "left"),
        ("REST head", "right"),
        ("missing", "left"),
        ("exchange-side", "left"),
        ("in flight", "right"),
        ("dups", "right"),
        ("stream", "left"),
        ("bars bad/checked", "right"),
        ("repaired", "right"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]  # literal justify
    for s in report.symbols:
        table.add_row(
            s.symbol,
            _status(s),
            str(s.stored),
            _ids(s),
            _head(s),
            Text(_missing(s), style="red" if s.missing or s.missing_window else ""),
            Text(_ranges(s.exchange_side), style="yellow" if s.exchange_side else ""),
            str(s.in_flight),
            str(_dups(s)),
            _stream(s),
            _bars(s),
            str(s.repaired),
        )
    return table


def symbols_lines(report: VerifyReport) -> Group:
    """The same facts as :func:`symbols_table`, a line per symbol (and an indented line
    per kind of problem): for terminals too narrow for the table."""
    width = max((len(s.symbol) for s in report.symbols), default=0)
    lines: list[Text] = [Text(_title(report))]
    for s in report.symbols:
        lines.append(
            Text.assemble(
                (s.symbol.ljust(width), "bold"),
                "  ",
                _status(s),
                f"  stored {s.stored:,} · ids {_ids(s)} · REST head {_head(s)}",
            )
        )
        details = [
            ("missing", _missing(s), "red"),
            ("exchange-side", _ranges(s.exchange_side), "yellow"),
            ("in flight", str(s.in_flight) if s.in_flight else "-", ""),
            ("duplicates", str(_dups(s) or "-"), "red"),
            ("stream", "-" if _stream(s) == "ok" else _stream(s), "red"),
            ("bars bad/checked", _bars(s), ""),
            ("repaired", str(s.repaired) if s.repaired else "-", ""),
        ]
        for label, value, style in details:
            if value != "-":
                lines.append(Text.assemble("    ", label, " ", (value, style)))
    return Group(*lines)


def bar_problems_table(report: VerifyReport) -> Table | None:
    rows = [(s.symbol, p) for s in report.symbols for p in s.bar_problems]
    if not rows:
        return None
    table = Table(title="bar differences", title_justify="left")
    for name in ("symbol", "source", "tf", "window (UTC)", "difference"):
        table.add_column(name, overflow="fold")
    for sym, p in rows[:MAX_BAR_ROWS]:
        table.add_row(sym, p.source, p.tf, _time(p.window_start), p.what)
    if len(rows) > MAX_BAR_ROWS:
        table.caption = f"{len(rows) - MAX_BAR_ROWS} more (use --json for all)"
    return table


def render(report: VerifyReport) -> RenderableType:
    parts: list[RenderableType] = [Fit((symbols_table(report), symbols_lines(report)))]
    bars = bar_problems_table(report)
    if bars is not None:
        parts.append(bars)
    for s in report.symbols:
        if s.outside_rest_window:
            parts.append(
                Text(
                    f"{s.symbol}: {_ranges(s.outside_rest_window)} exchange-side, "
                    f"{unrecoverable_note(s.rest_window_h)}",
                    style="yellow",
                )
            )
        for err in s.errors:
            parts.append(Text(f"{s.symbol}: {err}", style="red"))
    summary = report.summary()
    verdict = (
        Text("clean", style="bold green")
        if report.clean
        else Text(f"problems in {summary['symbols_with_problems']} symbol(s)", style="bold red")
    )
    parts.append(
        Text.assemble(
            verdict,
            f" · {summary['symbols']} symbols · {summary['missing']} missing"
            f" · {summary['exchange_side']} exchange-side"
            f" · {summary['in_flight']} in flight (neither is a problem)"
            f" · {summary['repaired']} repaired",
        )
    )
    return Group(*parts)
