"""`orders status`: health of the running ingester(s), as a dashboard or a cron/Nagios
check."""

from __future__ import annotations

from typing import Any

import attrs
import typer

from orders_cli import clock
from orders_cli.cli.console import Output, Screen, every
from orders_cli.cli.options import (
    duration_option,
    markets_option,
    namespace_option,
    redis_url_option,
)
from orders_cli.cli.shared_options import WatchCommand, shared, watch_option
from orders_cli.durations import parse_duration
from orders_cli.errors import RedisUnavailable
from orders_cli.ops.status import StatusLimits, check_status
from orders_cli.redis_conn import sentinel_primary
from orders_cli.redis_errors import LOST
from orders_cli.redis_types import RedisClient
from orders_cli.store.info import stored_counts

EXIT_HELP = (
    "Exit status: 0 healthy; 1 unhealthy (no live ingester in this namespace: the ones "
    "reporting under other namespaces are named; an ingester with no connection, or whose "
    "Redis writes are not confirmed yet or retrying; a connection down longer than "
    "--max-down, an open gap older than --max-gap-age, Redis itself refusing writes: out "
    "of memory, failing persistence, a replica, loading); 2 usage error; 3 this command "
    "cannot reach Redis. A run publishes its health only once its start-up checks "
    "passed, and deletes it on every exit."
)


def store_doc(r: RedisClient, market: str, namespace: str) -> dict[str, Any]:
    """What the store holds in the markets asked (``all``: every market stored): symbols
    with trades and trades, in total and, when there are several, per market."""
    from orders_cli.ops.symbols import keyspace_for, resolve_markets

    counts = {
        m: stored_counts(r, keyspace_for(m, namespace))
        for m in resolve_markets(r, market, namespace)
    }
    doc: dict[str, Any] = {
        "symbols": sum(held for held, _ in counts.values()),
        "trades": sum(trades for _, trades in counts.values()),
    }
    if len(counts) > 1:
        doc["markets"] = {m: {"symbols": h, "trades": t} for m, (h, t) in counts.items()}
    return doc


def register(app: typer.Typer) -> None:
    @app.command("status", epilog=EXIT_HELP, cls=WatchCommand)
    @shared("one document per check: healthy, problems, warnings, ingesters, redis, store")
    def status(
        watch: str | None = watch_option("the check"),
        max_down: str = duration_option(
            "--max-down", "ORDERS_MAX_DOWN", "60s", help="A connection down longer is a problem."
        ),
        max_gap_age: str = duration_option(
            "--max-gap-age", "ORDERS_MAX_GAP_AGE", "10m", help="An older open gap is a problem."
        ),
        redis_url: str | None = redis_url_option(),
        market: str = markets_option(
            "all",
            help="Only the runs recording these markets (spot, usdm, coinm, "
            "comma-separated), narrowed to them. Default: all.",
        ),
        namespace: str = namespace_option(),
        *,
        out: Output,
    ) -> None:
        """Health of the running ingester(s): connections, rates, latency, gaps, memory,
        symbols, stored trades, the backfill queue. Non-zero exit when unhealthy: usable as
        a cron or Nagios check.

        Example: orders status --json --max-gap-age 5m || page-oncall

        Example: orders status --watch  (redrawn every 2 s until Ctrl-C)

        Example: orders status --market usdm   (a run of several markets shows a row each)
        """
        from orders_cli.cli.options import parse_markets
        from orders_cli.cli.render_ops import status_view
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for

        limits = StatusLimits(
            max_down_s=parse_duration(max_down), max_gap_age_s=parse_duration(max_gap_age)
        )
        keyspace = keyspace_for("spot", namespace)  # health keys are the namespace's
        markets = None if market == "all" else parse_markets(market)
        healthy = False
        with open_redis(redis_url, namespace) as r:
            screen = Screen(out.json, redraw=watch is not None)

            def step() -> None:
                nonlocal healthy
                try:
                    now = clock.now_ms()
                    snaps, diag, verdict = check_status(r, keyspace, limits, now, markets)
                    store = store_doc(r, market, namespace)
                except LOST as exc:
                    raise RedisUnavailable(f"Redis went away: {exc}") from exc
                healthy = verdict.healthy
                reached = {"primary": sentinel_primary(r)}
                doc = {
                    "healthy": verdict.healthy,
                    "problems": list(verdict.problems),
                    "warnings": list(verdict.warnings),
                    "ingesters": [h.doc for h in snaps],
                    "redis": {**attrs.asdict(diag), **reached},
                    "store": store,
                }
                screen.show(
                    lambda: doc,
                    lambda: status_view([h.doc for h in snaps], verdict, diag, store, reached),
                )

            try:
                every(None if watch is None else parse_duration(watch), step)
            finally:
                screen.close()
        raise typer.Exit(0 if healthy else 1)
