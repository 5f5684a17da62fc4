"""`orders prune`: one cron-safe retention pass (optionally archiving to Parquet first)."""

from __future__ import annotations

from pathlib import Path

import typer

from orders_cli import clock
from orders_cli.cli.console import Output, write_json
from orders_cli.cli.options import (
    duration_option,
    markets_option,
    namespace_option,
    redis_url_option,
    stream_retention_option,
)
from orders_cli.cli.shared_options import shared
from orders_cli.durations import parse_duration
from orders_cli.errors import LockHeld, UsageError
from orders_cli.store.retention_policy import (
    PruneReport,
    RetentionPolicy,
    default_bar_retention,
)

EXIT_HELP = (
    "Exit status: 0 done (or nothing to do); 1 partial: some symbol failed, or the wall clock "
    "is more than 5 min ahead of the newest stored trade (the cut is then measured from that "
    "trade; see the report), nothing within retention was touched; 2 usage error; "
    "3 Redis unavailable; "
    "75 another prune holds the lock (EX_TEMPFAIL: try again later)."
)


_ARCHIVE = typer.Option(
    None,
    "--archive",
    metavar="DIR",
    help="Write the trades about to go to DIR/<market>/<SYMBOL>/<UTC day>.parquet "
    "first (needs pyarrow: pip install 'orders[archive]'); a trade is deleted only "
    "once its file is written and fsynced.",
)
_ARCHIVE_LS = typer.Option(
    None,
    "--archive-ls",
    metavar="DIR",
    help="List and check the archive in DIR (rows, agg id ranges, problems); exit 1 "
    "if a file has problems. Touches no Redis.",
)


def _bars_policy(spec: str | None) -> dict[str, float | None]:
    if not spec:
        return default_bar_retention()
    from orders_cli.stats.retention import parse_retention

    return parse_retention(spec)


def _archive_ls(root: Path, as_json: bool) -> None:
    """One JSON line per file (a listing), or a table."""
    from orders_cli.store.archive import list_archive

    files = list_archive(root)
    bad = [f for f in files if f.problems]
    if as_json:
        write_json(
            {
                "path": str(f.path),
                "market": f.market,
                "symbol": f.symbol,
                "day": f.day,
                "rows": f.rows,
                "first_agg_id": f.first_agg_id,
                "last_agg_id": f.last_agg_id,
                "problems": list(f.problems),
            }
            for f in files
        )
    else:
        from rich.table import Table

        from orders_cli.cli.console import out_console

        table = Table(title=f"archive {root}")
        for col in ("market", "symbol", "day", "rows", "agg ids", "problems"):
            table.add_column(col)
        for f in files:
            table.add_row(
                f.market,
                f.symbol,
                f.day,
                f"{f.rows:,}",
                f"{f.first_agg_id}..{f.last_agg_id}",
                ", ".join(f.problems),
            )
        out_console().print(table)
    raise typer.Exit(1 if bad else 0)


def register(app: typer.Typer) -> None:
    @app.command("prune", epilog=EXIT_HELP)
    @shared("one document: the report; --archive-ls: one line per file")
    def prune(
        keep: str = duration_option(
            "--keep", "ORDERS_KEEP", "24h", help="Keep trades (the ZSET) this long."
        ),
        stream_retention: str = stream_retention_option(),
        bars: str | None = typer.Option(
            None,
            "--bars",
            envvar="ORDERS_BAR_RETENTION",
            metavar="TF=DUR,...",
            help="Bar retention per timeframe, e.g. '100ms=1h,1m=7d,1d=none' "
            "(unlisted timeframes keep their defaults).",
        ),
        malformed_keep: str = duration_option(
            "--keep-malformed", "ORDERS_KEEP_MALFORMED", "24h", help="Keep malformed samples."
        ),
        gaps_keep: str = duration_option(
            "--keep-gaps",
            "ORDERS_KEEP_GAPS",
            "24h",
            help="Keep exchange-side gap records (holes Binance does not have) this long.",
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Print what would go; change nothing."
        ),
        archive: Path | None = _ARCHIVE,
        archive_ls: Path | None = _ARCHIVE_LS,
        chunk: int = typer.Option(
            500, "--chunk", min=10, max=10_000, help="Members per delete command."
        ),
        redis_url: str | None = redis_url_option(),
        market: str = markets_option(
            help="Market(s) to prune: spot, usdm, coinm, several comma-separated, or all "
            "(every market stored in the namespace)."
        ),
        namespace: str = namespace_option(),
        *,
        out: Output,
    ) -> None:
        """Apply retention in one cron-safe pass: trades past --keep out of the ZSET, stream
        entries past --stream-retention, bars past their timeframe's retention, old
        malformed samples and old exchange-side gap records. Idempotent, locked (two prunes
        never overlap), deletes in small chunks so Redis never blocks.

        Example: orders prune --keep 24h --dry-run    (cron: */10 * * * * orders prune --json)

        Example: orders prune --market all    (every market of the namespace, one JSON line
        each with --json)
        """
        if archive_ls is not None:
            _archive_ls(archive_ls, out.json)
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for, resolve_markets
        from orders_cli.store.prune import prune_once

        policy = RetentionPolicy(
            trades_s=parse_duration(keep),
            stream_s=parse_duration(stream_retention),
            bars_s=_bars_policy(bars),
            malformed_s=parse_duration(malformed_keep),
            exchange_gaps_s=parse_duration(gaps_keep),
            chunk=chunk,
        )
        if policy.trades_s <= 0:
            raise UsageError("--keep must be positive")
        ok = True
        with open_redis(redis_url, namespace) as r:
            # all with nothing stored: the spot keyspace, for the report of an empty store
            markets = resolve_markets(r, market, namespace) or ["spot"]
            for name in markets:
                keyspace = keyspace_for(name, namespace)
                try:
                    report = prune_once(
                        r, keyspace, clock.now_ms(), policy, dry_run=dry_run, archive_dir=archive
                    )
                except LockHeld as exc:
                    if out.json:
                        write_json([{"ok": False, "lock_held": str(exc)}])
                    raise
                ok = _print_report(report, out, name if len(markets) > 1 else None) and ok
        raise typer.Exit(0 if ok else 1)


def _print_report(report: PruneReport, out: Output, market: str | None) -> bool:
    """One market's report (``market`` named when the prune covers several: in JSON, one
    document per market, each naming it); its ok."""
    if out.json:
        doc = report.to_json() if market is None else {"market": market, **report.to_json()}
        write_json([doc])
        return report.ok
    from rich.console import Console

    from orders_cli.cli.console import out_console
    from orders_cli.cli.render_ops import prune_table

    if market is not None:
        out_console().print(f"[b]market {market}[/b]")
    out_console().print(prune_table(report))
    for note in [] if out.quiet else report.notes:
        Console(stderr=True).print(f"[yellow]note:[/yellow] {note}")
    for err in report.errors:
        Console(stderr=True).print(f"[red]error:[/red] {err}")
    for warning in report.warnings:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {warning}")
    return report.ok
