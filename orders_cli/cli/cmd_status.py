"""`orders status`: health of the running ingester(s), as a dashboard or a cron/Nagios
check."""

from __future__ import annotations

import sys
import time

import attrs
import orjson
import redis
import typer

from orders_cli import clock
from orders_cli.cli.options import (
    duration_option,
    json_option,
    markets_option,
    namespace_option,
    redis_url_option,
)
from orders_cli.durations import parse_duration
from orders_cli.errors import RedisUnavailable
from orders_cli.ops.status import StatusLimits, check_status

EXIT_HELP = (
    "Exit status: 0 healthy; 1 unhealthy (no live ingester in this namespace: the ones "
    "reporting under other namespaces are named; an ingester with no connection, or whose "
    "Redis writes are not confirmed yet or retrying; a connection down longer than "
    "--max-down, an open gap older than --max-gap-age, Redis itself refusing writes: out "
    "of memory, failing persistence, a replica, loading); 2 usage error; 3 this command "
    "cannot reach Redis. A run publishes its health only once its start-up checks "
    "passed, and deletes it on every exit."
)


def register(app: typer.Typer) -> None:
    @app.command("status", epilog=EXIT_HELP)
    def status(
        as_json: bool = json_option("Print {healthy, problems, warnings, ingesters} as JSON."),
        watch: bool = typer.Option(False, "--watch", help="Refresh every 2 s until Ctrl-C."),
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
    ) -> None:
        """Health of the running ingester(s): connections, rates, latency, gaps, memory.
        Non-zero exit when unhealthy: usable as a cron or Nagios check.

        Example: orders status --json --max-gap-age 5m || page-oncall

        Example: orders status --market usdm   (a run of several markets shows a row each)
        """
        from orders_cli.cli.options import parse_markets
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for

        limits = StatusLimits(
            max_down_s=parse_duration(max_down), max_gap_age_s=parse_duration(max_gap_age)
        )
        keyspace = keyspace_for("spot", namespace)  # health keys are the namespace's
        markets = None if market == "all" else parse_markets(market)
        healthy = False
        try:
            with open_redis(redis_url, namespace) as r:
                live = None
                while True:
                    try:
                        now = clock.now_ms()
                        snaps, diag, verdict = check_status(r, keyspace, limits, now, markets)
                    except (redis.ConnectionError, redis.TimeoutError) as exc:
                        raise RedisUnavailable(f"Redis went away: {exc}") from exc
                    healthy = verdict.healthy
                    if as_json:
                        doc = {
                            "healthy": verdict.healthy,
                            "problems": list(verdict.problems),
                            "warnings": list(verdict.warnings),
                            "ingesters": [h.doc for h in snaps],
                            "redis": attrs.asdict(diag),
                        }
                        sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")
                        sys.stdout.flush()
                    else:
                        from orders_cli.cli.render_ops import status_view

                        view = status_view([h.doc for h in snaps], verdict, diag)
                        if watch:
                            if live is None:
                                from rich.live import Live

                                live = Live(view, auto_refresh=False)
                                live.start()
                            live.update(view, refresh=True)
                        else:
                            from orders_cli.cli.console import out_console

                            out_console().print(view)
                    if not watch:
                        break
                    time.sleep(2.0)
        except KeyboardInterrupt:
            pass
        raise typer.Exit(0 if healthy else 1)
