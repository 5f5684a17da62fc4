"""`orders run`: ingest every aggregate trade of one market or several into Redis."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
import trio
import typer

from orders_cli.cli import options as o
from orders_cli.cli.console import on_terminal
from orders_cli.cli.run_loop import Display, run_ingest
from orders_cli.config import RunConfig
from orders_cli.durations import parse_duration
from orders_cli.errors import UsageError, orders_error_in
from orders_cli.redis_url import redact

if TYPE_CHECKING:
    from orders_cli.embedded import EmbeddedRedis

log = logging.getLogger("orders")


class _JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's ``fields`` (``extra={"fields": {...}}``, the
    summaries) are merged in, so machines read figures, not a message to parse."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        return orjson.dumps(out).decode()


def setup_logging(json_logs: bool, tty: bool, verbose: bool, console: Any = None) -> None:
    """``console``: the rich Console the live panel draws on — log lines must go through
    the same one, or they tear the panel."""
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if json_logs:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
    elif tty:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "trio-websocket"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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


def register(app: typer.Typer) -> None:
    @app.command("run")
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
        sim_symbols: int = typer.Option(
            300,
            "--sim-symbols",
            min=1,
            help=(
                "With --simulate: how many trading symbols (Zipf rates) it lists per "
                "market, plus a few scenario ones (BREAK, non-ASCII, TRD_GRP-only, idle)."
            ),
        ),
        sim_rate: float = typer.Option(
            500.0,
            "--sim-rate",
            min=0.1,
            help="With --simulate: total trades/s over all symbols (shared evenly by the markets).",
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
        max_streams: int | None = typer.Option(
            None,
            "--max-streams",
            min=1,
            help="Streams per connection (default: the market's limit).",
        ),
        json_logs: bool = typer.Option(
            False, "--json-logs", envvar="ORDERS_JSON_LOGS", help="Log JSON lines."
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
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs."),
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
    ) -> None:
        """Ingest every aggregate trade of the chosen market(s) into Redis, live.

        Discovers every symbol (exchangeInfo), subscribes all TRADING ones over as few
        connections as the limits allow, stores each trade exactly once, backfills gaps
        and resumes after a restart. Ctrl-C, SIGTERM and SIGHUP stop cleanly (what was
        received is written, the health record removed, within the grace the log prints).

        Examples:

          orders run --simulate                      # offline demo, embedded Redis

          orders run --simulate --market usdm        # the same on USD-M futures

          orders run --simulate --market spot,usdm,coinm   # three markets, one process

          orders run --redis-url redis://127.0.0.1:6379/0 --symbols BTCUSDT,ETHUSDT
        """
        tty = sys.stderr.isatty() and not no_panel and not json_logs
        from rich.console import Console

        console = Console(stderr=True) if tty else None
        setup_logging(json_logs, tty, verbose, console)
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
            timeframes=parse_timeframes(bars),
            ws_client=ws_client,
        )
        if metrics_port is not None:
            o.ensure_port_free("127.0.0.1", metrics_port)
        sim_cfg: Any = None
        if simulate:
            if ws_url or rest_url:
                raise UsageError("--simulate runs its own exchange: drop --ws-url/--rest-url")
            from orders_cli.sim import SimConfig

            sim_cfg = [
                SimConfig.from_fixture(
                    n_symbols=sim_symbols, total_rate=sim_rate / len(markets), market=m
                )
                for m in markets
            ]
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
                trio.run(
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
