"""`orders reset`: delete a namespace's data for a market, after saying what goes."""

from __future__ import annotations

from typing import cast

import typer

from orders_cli.cli.console import Output, on_terminal, write_json
from orders_cli.cli.options import market_option, namespace_option, redis_url_option
from orders_cli.cli.shared_options import shared
from orders_cli.errors import UsageError

_HELP = """Delete everything orders stored for a market in a namespace: trades, statistics,
symbol info, ingest state and its marks (origin, layout). Other namespaces, other markets
and keys that are not orders' stay. Prints what it deletes (keys by kind) first; asks on
a terminal (default no), needs --yes anywhere else. Refuses while an `orders run`
reports health in the namespace.

The way back from a store a run refuses (demo data under a real run, exchange data
under the demo, another simulation's data): reset it, or use another --namespace.

Exit status: 0 deleted (or nothing to delete), 1 not confirmed (nothing deleted), 2
usage error (no --yes off a terminal; an ingester running there), 3 Redis unreachable.

Example: orders reset --namespace demo

Example: orders reset --redis-url redis://127.0.0.1:6379/0 --yes
"""


def register(app: typer.Typer) -> None:
    @app.command("reset", help=_HELP)
    @shared("one document: what was deleted (keys by kind)")
    def reset(
        yes: bool = typer.Option(
            False, "--yes", "-y", help="Delete without asking (required off a terminal)."
        ),
        redis_url: str | None = redis_url_option(),
        market: str = market_option(),
        namespace: str = namespace_option(),
        *,
        out: Output,
    ) -> None:
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for
        from orders_cli.store.origin import where
        from orders_cli.store.wipe import count_keys, ensure_alone, wipe

        ks = keyspace_for(market, namespace)
        place = f"{where(ks)} (market {market})"
        with open_redis(redis_url) as r:  # no layout check: an unknown one may go too
            ensure_alone(r, ks, None, place)
            counts = count_keys(r, ks)
            if not counts.total:
                out.note(f"orders reset: nothing to delete in {place}")
                _report(out, place, counts.by_kind, 0)
                return
            raw = cast(bytes | None, r.get(ks.origin()))
            origin = f", filled by {raw.decode(errors='replace')}" if raw else ""
            out.note(f"orders reset: {place}{origin} holds {counts.describe()}")
            if not yes:
                if not on_terminal():
                    raise UsageError(
                        f"reset would delete {counts.describe()} from {place}: pass --yes "
                        "to delete them (there is no terminal to ask)"
                    )
                if not typer.confirm("Delete them?", default=False, err=True):
                    typer.echo("orders reset: nothing deleted", err=True)
                    raise typer.Exit(1)
            ensure_alone(r, ks, None, place)  # again: a run may have started meanwhile
            n = wipe(r, ks)
        out.note(f"orders reset: deleted {n:,} keys from {place}")
        _report(out, place, counts.by_kind, n)


def _report(out: Output, place: str, by_kind: dict[str, int], deleted: int) -> None:
    if out.json:
        write_json([{"place": place, "keys_by_kind": by_kind, "deleted": deleted}])
