"""Rich renderings for ``orders tail --stats``, ``orders prune`` and ``orders status`` (rows ->
tables). Only the CLI imports this module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from orders_cli.cli.render_run import history_figures
from orders_cli.ops.redis_diag import RedisDiagnosis
from orders_cli.ops.status import Verdict
from orders_cli.store.retention_policy import PruneReport


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def stats_table(views: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="current 100 ms window · latest 1m bar")
    for col in ("symbol", "window", "trades", "volume", "low", "high", "1m open", "1m close",
                "1m volume", "1m trades"):  # fmt: skip
        table.add_column(col, justify="left" if col == "symbol" else "right")
    for v in views:
        cur, bar = v["current"], v["bar_1m"] or {}
        start = cur.get("window_start") or cur.get("last_update_time")
        table.add_row(
            v["symbol"],
            _time(int(start)) if start else "-",
            str(cur.get("trades_count", "-")),
            str(cur.get("volume", "-")),
            str(cur.get("low_price", "-")),
            str(cur.get("high_price", "-")),
            str(bar.get("open", "-")),
            str(bar.get("close", "-")),
            str(bar.get("volume", "-")),
            str(bar.get("trades_count", "-")),
        )
    return table


def prune_table(report: PruneReport) -> Table:
    verb = "would remove" if report.dry_run else "removed"
    table = Table(title=f"orders prune: {verb}")
    for col in ("symbol", "trades", "stream", "bars", "gaps", "archive", "error"):
        table.add_column(col, justify="left" if col in ("symbol", "error", "archive") else "right")
    for s in report.symbols:
        if not (s.total or s.error or s.archived):
            continue
        bars = ", ".join(f"{tf}:{n}" for tf, n in s.bars.items()) or "0"
        table.add_row(
            s.symbol,
            str(s.trades),
            str(s.stream),
            bars,
            str(s.gaps),
            f"{len(s.archived)} file(s)" if s.archived else "",
            Text(s.error or "", style="red"),
        )
    t = report.totals
    table.add_section()
    table.add_row(
        f"{t['symbols']} symbols",
        str(t["trades"]),
        str(t["stream"]),
        str(t["bars"]),
        str(t["gaps"]),
        f"{t['archive_files']} file(s)" if t["archive_files"] else "",
        "",
    )
    table.caption = f"malformed samples {verb}: {t['malformed']}"
    return table


def _mib(v: Any) -> str:
    return "-" if v is None else f"{v / 2**20:,.1f} MiB"


def _num(v: Any, fmt: str = "{:,.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _limit(used: int, maxmemory: int) -> str:
    return f"{_mib(maxmemory)} ({100 * used / maxmemory:.0f}%)" if maxmemory else "no limit"


def _redis_line(diag: RedisDiagnosis, reached: Mapping[str, Any]) -> Text:
    state = f"refusing writes ({diag.refusing})" if diag.refusing else "taking writes"
    what = diag.role or "?"
    if diag.mode == "cluster":
        what = f"cluster of {len(diag.primaries)} primaries"
    primary = reached.get("primary")
    how = ""  # a cluster says so in `what`; one server needs no word
    if diag.mode == "sentinel":
        how = f" (sentinel, {primary})" if primary else " (sentinel)"
    total = " in total" if diag.primaries else ""
    lines = [
        f"redis{how}: {what}, {state} · used {_mib(diag.used_memory)}{total}"
        f" / max {_limit(diag.used_memory, diag.maxmemory)} · policy {diag.policy}"
        f" · ingesters connected: {', '.join(diag.connected_ingesters) or 'none'}"
    ]
    for n in diag.primaries:
        lines.append(
            f"  primary {n.node}: used {_mib(n.used_memory)}"
            f" / max {_limit(n.used_memory, n.maxmemory)}"
            + (f" · refusing writes ({n.refusing})" if n.refusing else "")
        )
    return Text("\n".join(lines))


def _markets_table(markets: dict[str, Any]) -> Table:
    """A row per market of one run (the snapshot's ``markets`` sections)."""
    table = Table(title="markets")
    for col in ("market", "symbols", "live conns", "stored", "lag p50 ms", "gaps open", "backfill"):
        table.add_column(col)
    for name, m in markets.items():
        syms, conns, gaps = m.get("symbols", {}), m.get("connections", {}), m.get("gaps", {})
        age = gaps.get("oldest_open_age_s")
        table.add_row(
            name,
            f"{syms.get('subscribed', 0):,}/{syms.get('listed', 0):,}",
            f"{conns.get('live', 0)}/{conns.get('all', 0)}",
            f"{m.get('trades_stored', 0):,}",
            _num(m.get("latency_ms", {}).get("p50")),
            f"{gaps.get('open', 0):,}" + (f" (oldest {age:.0f} s)" if age is not None else ""),
            f"{m.get('backfill_queue', 0):,}",
        )
    return table


def status_view(
    snapshots: Sequence[dict[str, Any]],
    verdict: Verdict,
    diag: RedisDiagnosis | None = None,
    store: Mapping[str, Any] | None = None,
    reached: Mapping[str, Any] | None = None,
) -> Group:
    """The verdict, Redis (``reached``: how, ``mode`` and the Sentinel ``primary``), what
    the store holds, then one table per ingester."""
    parts: list[Any] = []
    head = (
        Text("HEALTHY", style="bold green")
        if verdict.healthy
        else Text("UNHEALTHY", style="bold red")
    )
    parts.append(Text.assemble("orders status: ", head))
    if diag is not None:
        parts.append(_redis_line(diag, reached or {}))
    if store is not None:
        each = ", ".join(
            f"{m} {c['trades']:,} of {c['symbols']:,}" for m, c in store.get("markets", {}).items()
        )
        parts.append(
            Text(
                f"store: {store['trades']:,} trades of {store['symbols']:,} symbols"
                + (f" ({each})" if each else "")
            )
        )
    for snap in snapshots:
        lat, gaps, red = snap.get("latency_ms", {}), snap.get("gaps", {}), snap.get("redis", {})
        rates = snap.get("rates", {})
        summary = Table(title=f"ingester {snap.get('ingester_id')}", show_header=False)
        summary.add_column("what")
        summary.add_column("value")
        summary.add_row("heartbeat", _time(int(snap.get("heartbeat_ms", 0))) + " UTC")
        summary.add_row("uptime", f"{_num(snap.get('uptime_s'), '{:,.0f}')} s")
        symbols = snap.get("symbols") or {}
        summary.add_row(
            "symbols",
            f"{symbols.get('subscribed', 0):,} subscribed of {symbols.get('listed', 0):,} listed",
        )
        summary.add_row("trades stored", f"{snap.get('trades_stored', 0):,} this run")
        summary.add_row("backfill", f"{snap.get('backfill_queue', 0):,} requests queued")
        by_market = ", ".join(f"{m} {r:,.1f}/s" for m, r in rates.get("by_market", {}).items())
        summary.add_row("rate", f"{_num(rates.get('overall'))} msg/s ({by_market or '-'})")
        summary.add_row(
            "latency ms",
            f"p50 {_num(lat.get('p50'))} · p99 {_num(lat.get('p99'))} · max {_num(lat.get('max'))}",
        )
        age = gaps.get("oldest_open_age_s")
        oldest = f" (oldest {age:.0f} s)" if age is not None else ""
        summary.add_row(
            "gaps",
            f"open {gaps.get('open', 0)}{oldest}"
            f" · opened {gaps.get('opened', 0)} · filled {gaps.get('filled', 0)}"
            f" · exchange-side {gaps.get('exchange_side', 0)}",
        )
        summary.add_row(
            "counters",
            f"late {snap.get('late_trades', 0)} · bar corrections {snap.get('bar_corrections', 0)}"
            f" · malformed {snap.get('malformed', 0)} · duplicates {snap.get('duplicates', 0)}"
            f" · dropped {snap.get('dropped_overload', 0)}",
        )
        ratio = red.get("used_ratio")
        summary.add_row(
            "redis",
            f"{red.get('state')} · used {_mib(red.get('used_memory'))}"
            f" / max {_mib(red.get('maxmemory')) if red.get('maxmemory') else 'no limit'}"
            + (f" ({100 * ratio:.0f}%)" if ratio is not None else "")
            + f" · policy {red.get('eviction_policy')}"
            + (f" · primary {red['primary']}" if red.get("primary") else ""),
        )
        history = snap.get("history")
        if isinstance(history, dict):
            summary.add_row("history", " · ".join(f.plain for f in history_figures(history)))
        silent = snap.get("silent_symbols") or []
        if silent:
            summary.add_row("silent", ", ".join(map(str, silent[:20])))
        parts.append(summary)
        markets = snap.get("markets") or {}
        if markets:
            parts.append(_markets_table(markets))
        conns = Table(title="connections")
        for col in ("shard", "state", "for s", "streams", "messages", "reconnects", "last error"):
            conns.add_column(col)
        for c in snap.get("connections", []):
            style = "green" if c.get("state") == "live" else "yellow"
            conns.add_row(
                c.get("shard", "?"),
                Text(str(c.get("state")), style=style),
                _num(c.get("state_for_s"), "{:,.0f}"),
                str(c.get("streams", 0)),
                f"{c.get('messages', 0):,}",
                str(c.get("reconnects", 0)),
                c.get("last_error") or "",
            )
        parts.append(conns)
    for p in verdict.problems:
        parts.append(Text(f"✗ {p}", style="red"))
    for w in verdict.warnings:
        parts.append(Text(f"! {w}", style="yellow"))
    return Group(*parts)
