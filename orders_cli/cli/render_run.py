"""Rendering of a running ingester's telemetry: the rich live panel (TTY) and the
one-line summary (logs)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orders_cli.durations import format_duration
from orders_cli.redis_conn import MEMORY_WARN_RATIO, time_to_full_s
from orders_cli.telemetry import CLOCK_OFFSET_LIMIT_MS, ConnState, Telemetry

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


def panel(t: Telemetry, rate: float, title: str, markets: MarketRates | None = None) -> Panel:
    """``t``: the run's telemetry (every market's, merged); ``markets``: a row per market."""
    c = t.counters
    head = Table.grid(padding=(0, 3))
    for _ in range(4):
        head.add_column()
    head.add_row(
        f"[b]{rate:,.0f}[/] trades/s",
        f"stored [b]{c['trades_stored']:,}[/]",
        f"symbols [b]{t.symbols_subscribed:,}[/]/{t.symbols_listed:,}",
        f"uptime {_uptime(t)}",
    )
    head.add_row(
        f"lag p50 {_fmt_ms(t.latency_percentile(0.5))}",
        f"p99 {_fmt_ms(t.latency_percentile(0.99))}",
        redis_cell(t),
        f"queue {t.channel_depth:,}",
    )
    head.add_row(
        f"duplicates {c['duplicates']:,}",
        f"malformed {c['malformed']:,}"
        + (f" · out of range {c['out_of_range']:,}" if c["out_of_range"] else ""),
        f"dropped {c['dropped_overload']:,}",
        f"late {c['late_trades']:,} · bar corrections {c['bar_corrections']:,}",
    )
    head.add_row(
        f"gaps open {t.open_gaps:,} ids",
        f"opened {c['gaps_opened']:,}",
        f"exchange-side {c['exchange_holes']:,}",
        f"backfill queue {t.backfill_queue:,} · REST calls {c['rest_calls']:,}",
    )
    off = [cs for cs in t.connections.values() if cs.clock_offset_ms is not None]
    worst = max(off, key=lambda cs: abs(cs.clock_offset_ms or 0), default=None)
    if worst is not None and abs(worst.clock_offset_ms or 0) > CLOCK_OFFSET_LIMIT_MS:
        head.add_row(
            Text(
                f"clock: host {(worst.clock_offset_ms or 0) / 1000:+.1f}s off the exchange's "
                f"event times ({worst.shard})",
                style="yellow",
            )
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
    rows: list[Table | Text] = [markets.table(), Text("")] if markets is not None else []
    return Panel(Group(head, Text(""), *rows, conns), title=title, border_style="blue")


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


def summary_line(t: Telemetry, rate: float) -> str:
    f = summary_fields(t, rate)
    return " ".join(f"{k}={v}/s" if k == "rate" else f"{k}={v}" for k, v in f.items())
