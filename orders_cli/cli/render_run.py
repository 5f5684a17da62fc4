"""Rendering of a running ingester's telemetry: the rich live panel (TTY) and the
one-line summary (logs)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orders_cli.durations import format_duration
from orders_cli.health import history_fields
from orders_cli.hints import command
from orders_cli.redis_conn import MEMORY_WARN_RATIO, time_to_full_s
from orders_cli.telemetry import CLOCK_OFFSET_LIMIT_MS, ConnState, HistoryProgress, Telemetry

STATE_STYLE: dict[ConnState, str] = {
    "live": "green",
    "connecting": "yellow",
    "subscribing": "yellow",
    "backoff": "red",
    "stalled": "red",
    "silent": "red",
    "closed": "dim",
}


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def _uptime(t: Telemetry) -> str:
    s = int(time.monotonic() - t.started_monotonic)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


class RateMeter:
    """trades/s from the ``trades_stored`` counter between two renders."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), 0)
        self.rate = 0.0

    def update(self, t: Telemetry) -> float:
        now, n = time.monotonic(), t.counters["trades_stored"]
        dt = now - self._last[0]
        if dt >= 0.5:
            self.rate = (n - self._last[1]) / dt
            self._last = (now, n)
        return self.rate


class MarketRates:
    """The panel of a run of several markets: a row per market (its own telemetry)."""

    def __init__(self, markets: Mapping[str, Telemetry]) -> None:
        self.markets = markets
        self.meters = {name: RateMeter() for name in markets}

    def table(self) -> Table:
        rows = Table(box=None, pad_edge=False, expand=False)
        for col in ("market", "trades/s", "stored", "symbols", "lag p50", "gaps open"):
            rows.add_column(col)
        for name, t in self.markets.items():
            rows.add_row(
                name,
                f"{self.meters[name].update(t):,.0f}",
                f"{t.counters['trades_stored']:,}",
                f"{t.symbols_subscribed:,}/{t.symbols_listed:,}",
                _fmt_ms(t.latency_percentile(0.5)),
                f"{t.open_gaps:,}",
            )
        return rows


def redis_cell(t: Telemetry) -> str:
    """Redis' state (and the code of its refusal), memory used / max, time to full."""
    state = t.redis_state + (f" ({t.redis_refusal})" if t.redis_refusal else "")
    style = "green" if t.redis_state == "ok" else "red"
    out = f"redis [b {style}]{state}[/]"
    used, maxmem = t.redis_used_memory, t.redis_maxmemory
    if used:
        out += f" {used / 2**20:,.0f}"
        if maxmem:
            warn = used >= MEMORY_WARN_RATIO * maxmem
            out += (
                f"/{maxmem / 2**20:,.0f} MiB" if not warn else f"/[red]{maxmem / 2**20:,.0f}[/] MiB"
            )
            left = time_to_full_s(used, maxmem, t.redis_memory_rate)
            if left is not None:
                out += f" full in {format_duration(left)}" if left else " [red]full[/]"
        else:
            out += " MiB"
    return out


FIGURE_GAP = 3  # columns between two figures of a line
ROW = 3  # figures per row of the panel


class Figures:
    """Rows of :data:`ROW` figures ("label value", never broken inside) laid out in as
    many columns as the width allows: two rows side by side in a wide terminal, one
    row a line at 80 columns for usual figures, then two figures a line or one (the
    longest value folds inside its cell). A row's figures stay together."""

    def __init__(self, rows: list[list[Text]]) -> None:
        self.rows = [[*r, *[Text("")] * (ROW - len(r))] for r in rows if r]

    def _lines(self, per_line: int) -> list[list[Text]]:
        if per_line % ROW == 0:
            flat = [fig for row in self.rows for fig in row]
            return [flat[i : i + per_line] for i in range(0, len(flat), per_line)]
        return [row[i : i + per_line] for row in self.rows for i in range(0, ROW, per_line)]

    def _fits(self, per_line: int, width: int) -> bool:
        widths = [0] * per_line
        for line in self._lines(per_line):
            for i, fig in enumerate(line):
                widths[i] = max(widths[i], fig.cell_len)
        return sum(widths) + FIGURE_GAP * (per_line - 1) <= width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        per_line = next((n for n in (2 * ROW, ROW, 2) if self._fits(n, options.max_width)), 1)
        grid = Table.grid(padding=(0, FIGURE_GAP, 0, 0))
        for _ in range(per_line):
            grid.add_column(overflow="fold")
        for line in self._lines(per_line):
            if any(fig.cell_len for fig in line):
                grid.add_row(*line)
        yield grid


def _fig(label: str, value: str, unit: str = "") -> Text:
    """One figure: ``label``, its value in bold (``value`` may hold rich markup), ``unit``."""
    return Text.assemble(f"{label} ", Text.from_markup(value, style="bold"), unit)


LEGEND = (
    "symbols: live/listed · lag: from the trade's time at the exchange to stored in "
    "Redis · writer queue: received, not yet written · silent: quiet far longer than usual"
)


def footer(t: Telemetry, tail_flags: str = "") -> str:
    """The keys and the next command to try (``tail_flags``: what finds this run's store)."""
    symbol = t.example_symbol or "SYMBOL"
    return (
        f"Ctrl-C stops (twice: at once) · try `{command(f'tail {symbol}{tail_flags}')}` "
        "in another terminal"
    )


def history_figures(h: Mapping[str, Any]) -> list[Text]:
    """The cold-start backfill (``health.history_fields``: the panel's and `status`'s):
    symbols done of total, pages fetched, the ETA; then the moment it was complete."""
    after = h.get("complete_after_s")
    if after is not None:
        return [_fig("history complete in", format_duration(HistoryProgress.took(after)))]
    eta = h.get("eta_s")
    return [
        _fig("history", f"{h.get('symbols_done', 0):,}/{h.get('symbols_total', 0):,}", " symbols"),
        _fig("pages", f"{h.get('pages', 0):,}", f" ({h.get('pages_left', 0):,} left)"),
        _fig("ETA", "-" if eta is None else format_duration(round(eta))),
    ]


def panel(
    t: Telemetry,
    rate: float,
    title: str,
    tail_flags: str = "",
    markets: MarketRates | None = None,
) -> Panel:
    """``t``: the run's telemetry (every market's, merged); ``tail_flags``: the options
    the footer's `orders tail` hint needs; ``markets``: a row per market."""
    c = t.counters
    rows: list[list[Text]] = [
        [
            Text.assemble((f"{rate:,.0f}", "bold"), " trades/s"),
            _fig("stored", f"{c['trades_stored']:,}"),
            _fig("uptime", _uptime(t)),
        ],
        [
            _fig("lag p50", _fmt_ms(t.latency_percentile(0.5))),
            _fig("lag p99", _fmt_ms(t.latency_percentile(0.99))),
            Text.from_markup(redis_cell(t)),
        ],
        [
            _fig("symbols", f"{t.symbols_subscribed:,}", f"/{t.symbols_listed:,}"),
            _fig("silent", f"{len(t.silent_symbols):,}", " symbols"),
            _fig("writer queue", f"{t.channel_depth:,}"),
        ],
        [
            _fig("duplicates", f"{c['duplicates']:,}"),
            _fig("malformed", f"{c['malformed']:,}"),
            _fig("dropped", f"{c['dropped_overload']:,}"),
        ],
        [
            _fig("late", f"{c['late_trades']:,}"),
            _fig("bar corrections", f"{c['bar_corrections']:,}"),
            *([_fig("out of range", f"{c['out_of_range']:,}")] if c["out_of_range"] else []),
        ],
        [
            _fig("gaps open", f"{t.open_gaps:,}", " ids"),
            _fig("gaps opened", f"{c['gaps_opened']:,}"),
            _fig("exchange-side", f"{c['exchange_holes']:,}"),
        ],
        [
            _fig("backfill queue", f"{t.backfill_queue:,}"),
            _fig("REST calls", f"{c['rest_calls']:,}"),
        ],
        history_figures(history_fields(t)),
    ]
    clock = ""
    off = [cs for cs in t.connections.values() if cs.clock_offset_ms is not None]
    worst = max(off, key=lambda cs: abs(cs.clock_offset_ms or 0), default=None)
    if worst is not None and abs(worst.clock_offset_ms or 0) > CLOCK_OFFSET_LIMIT_MS:
        clock = (
            f"clock: host {(worst.clock_offset_ms or 0) / 1000:+.1f}s off the exchange's "
            f"event times ({worst.shard})"
        )
    conns = Table(box=None, pad_edge=False, expand=False)
    for col in ("connection", "state", "streams", "messages", "reconnects", "last error"):
        conns.add_column(col)
    for name, cs in sorted(t.connections.items()):
        style = STATE_STYLE.get(cs.state, "")
        silent = cs.silent_alarm is not None and cs.state != "silent"
        conns.add_row(
            name,
            Text(f"{cs.state} · silent", style="red") if silent else Text(cs.state, style=style),
            f"{cs.streams:,}",
            f"{cs.messages:,}",
            str(cs.reconnects),
            (cs.silent_alarm or cs.last_error or "")[:60],
        )
    notes = Text(LEGEND + "\n" + footer(t, tail_flags), style="dim")
    parts: list[RenderableType] = [Figures(rows)]
    if clock:
        parts.append(Text(clock, style="yellow"))
    if markets is not None:
        parts += [Text(""), markets.table()]
    return Panel(Group(*parts, Text(""), conns, Text(""), notes), title=title, border_style="blue")


def summary_fields(t: Telemetry, rate: float) -> dict[str, Any]:
    """The summary's figures, by name (the text line and the JSON log carry the same)."""
    c = t.counters
    live = sum(1 for cs in t.connections.values() if cs.state == "live")
    return {
        "rate": round(rate),
        "stored": c["trades_stored"],
        "dup": c["duplicates"],
        "malformed": c["malformed"],
        "out_of_range": c["out_of_range"],
        "dropped": c["dropped_overload"],
        "gaps_open": t.open_gaps,
        "late": c["late_trades"],
        "conns": f"{live}/{len(t.connections)}",
        "redis": t.redis_state + (f"({t.redis_refusal})" if t.redis_refusal else ""),
        "lag_p50": t.latency_percentile(0.5),
        "lag_p99": t.latency_percentile(0.99),
        "queue": t.channel_depth,
        "backfill": t.backfill_queue,
    }


def logfmt(fields: Mapping[str, Any]) -> str:
    """``k=v`` pairs; a value with a space is quoted."""
    return " ".join(f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in fields.items())


def summary_line(t: Telemetry, rate: float) -> str:
    f = summary_fields(t, rate)
    return " ".join(f"{k}={v}/s" if k == "rate" else f"{k}={v}" for k, v in f.items())


def stop_fields(t: Telemetry, after_s: float, embedded: str | None) -> dict[str, Any]:
    """The end of a stopped run: how long it ran, the summary's figures, how many
    symbols' backfill resumes on the next start, what became of the embedded Redis."""
    fields: dict[str, Any] = {"after_s": round(after_s, 1)}
    fields.update(summary_fields(t, 0.0))
    del fields["rate"]
    h = t.history
    fields["backfill_resumes"] = 0 if h.complete else h.symbols_total - h.symbols_done
    if embedded is not None:
        fields["embedded_redis"] = embedded
    return fields


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def stop_sentence(f: Mapping[str, Any]) -> str:
    """``stop_fields`` for a person: "stopped after 2m44s: 82,916 trades stored, 1
    duplicate dropped, 0 ids in open gaps; the backfill of 12 symbols resumes on the
    next start; embedded Redis stopped"."""
    parts = [
        f"stopped after {format_duration(round(f['after_s']))}: "
        f"{_count(f['stored'], 'trade', 'trades')} stored, "
        f"{_count(f['dup'], 'duplicate', 'duplicates')} dropped, "
        f"{_count(f['gaps_open'], 'id', 'ids')} in open gaps"
    ]
    if f["backfill_resumes"]:
        n = f["backfill_resumes"]
        parts.append(f"the backfill of {_count(n, 'symbol', 'symbols')} resumes on the next start")
    if "embedded_redis" in f:
        parts.append(f"embedded Redis {f['embedded_redis']}")
    return "; ".join(parts)
