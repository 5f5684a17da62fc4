"""`orders run`: ingest every aggregate trade of one market or several into Redis."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
import typer

from orders_cli.cli import options as o
from orders_cli.cli.cmd_sim import scenario_option
from orders_cli.cli.console import Output, log_handler, on_terminal, tame_libraries
from orders_cli.cli.run_loop import Display, report_stop, run_ingest
from orders_cli.cli.shared_options import shared
from orders_cli.config import RunConfig
from orders_cli.durations import parse_duration
from orders_cli.errors import UsageError, orders_error_in
from orders_cli.redis_url import redact

if TYPE_CHECKING:
    from orders_cli.embedded import EmbeddedRedis

log = logging.getLogger("orders")


def setup_logging(json_logs: bool, tty: bool, level: int, console: Any = None) -> None:
    """``console``: the rich Console the live panel draws on — log lines must go through
    the same one, or they tear the panel. ``level``: -q WARNING, -v DEBUG, else INFO."""
    root = logging.getLogger()
    root.handlers[:] = [log_handler(json_logs, tty, console)]
    root.setLevel(level)
    tame_libraries(level <= logging.DEBUG)


def parse_timeframes(spec: str) -> tuple[str, ...]:
    from orders_cli.timeframes import TIMEFRAMES

    text = spec.strip().lower()
    if text == "all":
        return TIMEFRAMES
    if text in ("none", ""):
        return ()
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in wanted if t not in TIMEFRAMES]
    if bad:
        raise UsageError(f"--bars: unknown timeframe {bad[0]!r}; use {','.join(TIMEFRAMES)}")
    return tuple(tf for tf in TIMEFRAMES if tf in wanted)


def open_embedded(stack: ExitStack) -> EmbeddedRedis:
    """The embedded Redis (started, or reused), held for this run: no other command
    stops it while the run lasts; stopped on exit only if this run started it and no
    other run uses it (embedded.py)."""
    from orders_cli.embedded import EmbeddedRedis

    emb = EmbeddedRedis()
    stack.callback(emb.stop)  # also releases the run lock
    emb.hold_for_run()
    url = emb.start()
    how = "reusing" if emb.reused else "started"
    log.info("embedded Redis %s: %s (data in %s)", how, redact(url), emb.data_dir)
    return emb


def _confirm(question: str) -> bool:
    """Asked on the terminal before a run deletes anything (store/origin.py)."""
    return typer.confirm(question, default=False, err=True)


SIM_RATE = 500.0  # run --simulate's default total rate (trades/s) without a scenario


def simulator_config(
    scenario: str | None,
    seed: int | None,
    symbol_count: int | None,
    rate: float | None,
    markets: Sequence[str] = ("spot",),
) -> list[Any]:
    """The ``--simulate`` exchange, one config per market: a shipped scenario or a file
    (``--sim-scenario``, for the first market), or the default universe; the rate shared
    evenly by the markets (a scenario's own rate when none is given); on any free ports
    (the run connects to them itself)."""
    from orders_cli.cli.cmd_sim import build_config, resolve_scenario

    path = None if scenario is None else resolve_scenario(scenario)
    share = (rate or SIM_RATE) / len(markets)
    first, *others = markets
    first_rate = None if path is not None and rate is None else share
    return [build_config(path, seed, symbol_count, first_rate, None, 0, 0, first)] + [
        build_config(None, seed, symbol_count, share, None, 0, 0, m) for m in others
    ]


def register(app: typer.Typer) -> None:
    @app.command("run")
    @shared("log lines as JSON objects on stderr, like --json-logs; run prints no tables")
    def run(
        market: str = o.markets_option(
            help="Binance market(s) to record: spot, usdm (USD-M futures), coinm (COIN-M "
            "futures), several comma-separated or all: one process, one ingester per "
            "market (keys prefixed usdm:/coinm:), one REST budget per Binance weight pool."
        ),
        symbols: list[str] | None = o.symbols_option(),
        redis_url: str | None = o.redis_url_option(),
        ws_url: str | None = o.ws_url_option(),
        rest_url: str | None = o.rest_url_option(),
        namespace: str = o.namespace_option(),
        simulate: bool = typer.Option(
            False,
            "--simulate",
            help="Start the built-in simulator of --market and ingest from it (offline demo).",
        ),
        sim_symbols: int | None = typer.Option(
            None,
            "--sim-symbol-count",
            "--sim-symbols",
            min=1,
            metavar="N",
            show_default="300, or the scenario's",
            help=(
                "With --simulate: how many trading symbols (Zipf rates) it lists per "
                "market, plus a few scenario ones (BREAK, non-ASCII, TRD_GRP-only, idle)."
            ),
        ),
        sim_rate: float | None = typer.Option(
            None,
            "--sim-rate",
            min=0.1,
            show_default=f"{SIM_RATE:g}, or the scenario's",
            help="With --simulate: total trades/s over all symbols (shared evenly by the markets).",
        ),
        sim_scenario: str | None = scenario_option(
            "--sim-scenario",
            None,
            "With --simulate (chaos: reconnects and gaps in the panel); it applies to the "
            "first market.",
        ),
        sim_seed: int | None = typer.Option(
            None, "--sim-seed", show_default="1", help="With --simulate: the random seed."
        ),
        backfill: str = o.duration_option(
            "--backfill",
            "ORDERS_BACKFILL",
            "24h",
            help="On a symbol's first sight, backfill this far back from REST (0 = off).",
        ),
        retention: str = o.duration_option(
            "--retention",
            "ORDERS_RETENTION",
            "24h",
            help="Keep trades this long (pruned while running).",
        ),
        stream_retention: str = o.stream_retention_option(),
        silence_cap: str = o.duration_option(
            "--silence-cap",
            "ORDERS_SILENCE_CAP",
            "10m",
            help=(
                "A symbol quiet for max(5s, 10x its mean gap between trades), at most "
                "this long, gets a head check: a trade never delivered live is found "
                "within this bound (0 = off)."
            ),
        ),
        overload_hold: str = o.duration_option(
            "--overload-hold",
            "ORDERS_OVERLOAD_HOLD",
            "20s",
            help=(
                "Under overload, a symbol that drops is dropped for at least this long, "
                "as one id range (one gap, backfilled from REST)."
            ),
        ),
        coarse_bars_every: str = o.duration_option(
            "--coarse-bars-every",
            "ORDERS_COARSE_BARS_EVERY",
            "1s",
            help=(
                "Rewrite a symbol's coarse bars (1m ... 1d) at most this often; its 100 ms "
                "bars and stats:{S}:current are written with every trade (0 = coarse bars "
                "with every trade too). Longer costs less CPU per trade under load "
                "(Binance's own kline streams update every 2s); never less exact."
            ),
        ),
        max_streams: int | None = typer.Option(
            None,
            "--max-streams",
            min=1,
            help="Streams per connection (default: the market's limit).",
        ),
        json_logs: bool = typer.Option(
            False, "--json-logs", envvar="ORDERS_JSON_LOGS", help="Log JSON lines (= -o json)."
        ),
        summary_every: float = typer.Option(
            10.0, "--summary-every", min=0.5, help="Off a TTY: seconds between summary lines."
        ),
        no_panel: bool = typer.Option(False, "--no-panel", help="Logs instead of the live panel."),
        replace_store: bool = typer.Option(
            False,
            "--replace-store",
            help=(
                "Delete data this run would have to replace (demo data under a real run, "
                "another simulation's data) without asking; on a terminal the run asks, "
                "elsewhere it refuses. --simulate replaces an earlier simulation by itself. "
                "Exchange data is never deleted by a run: see `orders reset`."
            ),
        ),
        bars: str = typer.Option(
            "all",
            "--bars",
            envvar="ORDERS_BARS",
            metavar="TF[,TF...]|all|none",
            help="Timeframes kept as bars (100ms,1m,5m,15m,1h,4h,1d). 'none' = trades only.",
        ),
        ws_client: str = o.ws_client_option(),
        metrics_port: int | None = o.port_option(
            "--metrics-port",
            "ORDERS_METRICS_PORT",
            help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.",
        ),
        *,
        out: Output,
    ) -> None:
        """Ingest every aggregate trade of the chosen market(s) into Redis, live.

        Discovers every symbol (exchangeInfo), subscribes all TRADING ones over as few
        connections as the limits allow, stores each trade exactly once, backfills gaps
        and resumes after a restart. On a terminal a live panel shows it (the cold-start
        backfill's progress too; one log line says when the history is complete). Ctrl-C,
        SIGTERM and SIGHUP stop cleanly (what was received is written, the health record
        removed, within the grace the log prints; a second Ctrl-C stops at once) and the
        run ends with a one-line summary.

        Examples:

          orders run --simulate                      # offline demo, embedded Redis

          orders run --simulate --market usdm        # the same on USD-M futures
          orders run --simulate --sim-scenario chaos # reconnects and gaps in the panel

          orders run --simulate --market spot,usdm,coinm   # three markets, one process

          orders run --redis-url redis://127.0.0.1:6379/0 --symbols BTCUSDT,ETHUSDT
        """
        # run's output is its log on stderr: the panel on a terminal, log lines elsewhere;
        # asked for JSON (-o json, --json-logs), one JSON object per line
        json_logs = json_logs or (out.forced and out.json)
        tty = sys.stderr.isatty() and not no_panel and not json_logs
        from rich.console import Console

        console = Console(stderr=True) if tty else None
        setup_logging(json_logs, tty, out.log_level, console)
        from orders_cli import redis_conn
        from orders_cli.sources.registry import get_source

        markets = o.parse_markets(market)
        sources = [get_source(m) for m in markets]
        cfg = RunConfig(
            redis_url="",
            market=markets[0],
            ws_url=ws_url,
            rest_url=rest_url,
            namespace=namespace,
            symbols=tuple(symbols or ()),
            max_streams_per_connection=max_streams,
            backfill_s=parse_duration(backfill) if backfill != "0" else 0.0,
            retention_s=parse_duration(retention),
            stream_retention_s=parse_duration(stream_retention),
            silence_cap_s=parse_duration(silence_cap),
            overload_hold_s=parse_duration(overload_hold),
            rollup_s=parse_duration(coarse_bars_every),
            timeframes=parse_timeframes(bars),
            ws_client=ws_client,
        )
        if metrics_port is not None:
            o.ensure_port_free("127.0.0.1", metrics_port)
        sim_cfg: Any = None
        if simulate:
            if ws_url or rest_url:
                raise UsageError("--simulate runs its own exchange: drop --ws-url/--rest-url")
            sim_cfg = simulator_config(sim_scenario, sim_seed, sim_symbols, sim_rate, markets)
        with ExitStack() as stack:
            embedded = None if redis_url else open_embedded(stack)
            url = embedded.url if embedded is not None else str(redis_url)
            facts = redis_conn.check(url, given=embedded is None)
            warning = redis_conn.eviction_warning(facts)
            if warning:
                log.warning("%s", warning)
            client = redis_conn.connect(url)
            stack.callback(client.close)
            import attrs

            from orders_cli.ingest.ingester import StoreClaim

            cfg = attrs.evolve(cfg, redis_url=url)
            claim = StoreClaim(
                replace=replace_store or simulate,
                confirm=_confirm if on_terminal() else None,
            )
            display = Display(
                tty=tty, summary_every_s=summary_every, console=console, json_logs=json_logs
            )
            try:
                telemetry, stopped = trio.run(
                    partial(
                        run_ingest,
                        cfg,
                        sources,
                        client,
                        display,
                        sim_cfg=sim_cfg,
                        metrics_port=metrics_port,
                        claim=claim,
                        embedded=embedded,
                    )
                )
            except BaseException as exc:  # unwrap trio's exception groups at the boundary
                err = orders_error_in(exc)
                if err is not None:
                    raise err from None
                raise
        if stopped:  # after the exit stack: the embedded Redis has stopped (or not)
            report_stop(telemetry, display, embedded)
