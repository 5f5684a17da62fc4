"""`orders sim`: Run the Binance-compatible simulator (WebSocket + REST)."""

from __future__ import annotations

import errno
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import trio
import typer

import orders_cli.sim
from orders_cli.cli.console import Output, write_json
from orders_cli.cli.options import parse_markets, validate_duration
from orders_cli.cli.shared_options import shared
from orders_cli.durations import parse_duration
from orders_cli.errors import UsageError
from orders_cli.hints import command
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sim.scenario import ScenarioError, load_scenario

DEFAULT_WS_PORT = 9443  # Binance's spot stream port
DEFAULT_REST_PORT = 9080
DEFAULT_SYMBOLS = 300
DEFAULT_RATE = 200.0
SCENARIO_DIR = Path(orders_cli.sim.__file__).parent / "scenarios"  # package data
SCENARIOS: tuple[str, ...] = tuple(sorted(p.stem for p in SCENARIO_DIR.glob("*.json")))
"""The scenarios shipped with orders (orders_cli/sim/SCENARIO.md), by name."""


def scenario_option(name: str, envvar: str | None, help: str) -> Any:
    """A scenario option (``--scenario``, run's ``--sim-scenario``): a file or a shipped
    name; resolve it with :func:`resolve_scenario`."""
    return typer.Option(
        None,
        name,
        envvar=envvar,
        metavar="FILE|NAME",
        help=f"{help} A scenario file (JSON or TOML), or a shipped one by name: "
        f"{', '.join(SCENARIOS)} (orders_cli/sim/SCENARIO.md).",
    )


def resolve_scenario(text: str) -> Path:
    """A scenario file's path, or a shipped scenario's by name (``chaos``, ``chaos.json``)."""
    path = Path(text)
    if path.is_file():
        return path
    name = path.name.removesuffix(".json").removesuffix(".toml")
    if name in SCENARIOS and path.parent == Path("."):
        return SCENARIO_DIR / f"{name}.json"
    raise UsageError(
        f"no scenario file {text!r} and no shipped scenario of that name "
        f"(shipped: {', '.join(SCENARIOS)})"
    )


def build_config(
    scenario: Path | None,
    seed: int | None,
    symbols: int | None,
    rate: float | None,
    history: str | None,
    ws_port: int | None,
    rest_port: int | None,
    market: str | None = None,
) -> SimConfig:
    """Scenario file (or the default universe), then command-line overrides. ``history``
    is a DURATION (``10m``)."""
    if scenario is not None:
        try:
            cfg = load_scenario(scenario, market)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        if symbols is not None or (seed is not None and seed != cfg.seed):
            fixture = SimConfig.from_fixture(
                n_symbols=symbols or DEFAULT_SYMBOLS,
                seed=seed if seed is not None else cfg.seed,
                total_rate=rate or DEFAULT_RATE,
                market=cfg.market,
            )
            cfg = attrs.evolve(cfg, symbols=fixture.symbols)
    else:
        cfg = SimConfig.from_fixture(
            n_symbols=symbols or DEFAULT_SYMBOLS,
            seed=seed if seed is not None else 1,
            total_rate=rate or DEFAULT_RATE,
            market=market or "spot",
        )
    changes: dict[str, Any] = {}
    if seed is not None:
        changes["seed"] = seed
    if rate is not None:
        changes["total_rate"] = rate
    if history is not None:
        changes["history_s"] = parse_duration(history)
    changes["ws_port"] = ws_port if ws_port is not None else (cfg.ws_port or DEFAULT_WS_PORT)
    changes["rest_port"] = (
        rest_port if rest_port is not None else (cfg.rest_port or DEFAULT_REST_PORT)
    )
    return attrs.evolve(cfg, **changes)


async def _serve(sim: Simulator, as_json: bool) -> None:
    try:
        await sim.bind()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port in use: ws {sim.cfg.ws_port} or rest {sim.cfg.rest_port} "
                "(choose others with --ws-port/--rest-port, 0 = any free port)"
            ) from None
        raise UsageError(f"cannot listen on {sim.cfg.host}: {exc.strerror}") from None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.serve)
            _announce(sim, as_json)
            async for _ in signals:  # Ctrl-C or SIGTERM: stop cleanly, exit 0
                nursery.cancel_scope.cancel()
                break


def _announce(sim: Simulator, as_json: bool) -> None:
    """The banner: per market its symbols, URLs and the command that ingests from it (as
    JSON: one document per market)."""
    docs: list[dict[str, Any]] = []
    for market, engine in sim.engines.items():
        cfg, rules = engine.cfg, engine.rules
        ws = sim.ws_url_for(market)
        flag = "" if market == "spot" else f" --market {market}"
        ingest = command(f"run{flag} --ws-url {ws} --rest-url {sim.rest_url}")
        trading = [s for s in cfg.symbols if s.status == "TRADING"]
        docs.append(
            {
                "market": market,
                "ws_url": ws,
                "rest_url": sim.rest_url,
                "ingest": ingest,
                "symbols": len(cfg.symbols),
                "trading": len(trading),
                "seed": cfg.seed,
            }
        )
        if as_json:
            continue
        typer.echo(
            f"orders sim: {market}: {len(cfg.symbols)} symbols ({len(trading)} TRADING), "
            f"seed {cfg.seed}"
        )
        stream = quote(trading[0].stream if trading else "", safe="@")
        typer.echo(f"  ws   {ws}   (e.g. {ws}{rules.ws_route}/ws/{stream})")
        typer.echo(f"  rest {sim.rest_url} (e.g. {sim.rest_url}{rules.rest_prefix}/exchangeInfo)")
        typer.echo(f"  ingest from it: {ingest}")
    if as_json:
        write_json(docs)
    else:
        typer.echo("  Ctrl-C to stop")


def register(app: typer.Typer) -> None:
    @app.command("sim")
    @shared("the banner as one document: ws_url, rest_url, ingest, symbols, trading, seed")
    def sim(
        market: str = typer.Option(
            "spot",
            "--market",
            envvar="ORDERS_SIM_MARKET",
            help=(
                "spot, usdm, coinm, or several comma-separated (one process: REST paths "
                "by market, WebSocket under /usdm, /coinm after the first)."
            ),
        ),
        scenario: str | None = scenario_option(
            "--scenario", "ORDERS_SIM_SCENARIO", "Default: the default universe."
        ),
        seed: int | None = typer.Option(
            None, "--seed", envvar="ORDERS_SIM_SEED", show_default="1", help="Random seed."
        ),
        symbol_count: int | None = typer.Option(
            None,
            "--symbol-count",
            envvar="ORDERS_SIM_SYMBOL_COUNT",
            min=1,
            metavar="N",
            show_default=str(DEFAULT_SYMBOLS),
            help="How many trading symbols from the recorded exchangeInfo, plus a few "
            "scenario ones (BREAK, non-ASCII, TRD_GRP-only, idle).",
        ),
        old_symbols: int | None = typer.Option(
            None, "--symbols", envvar="ORDERS_SIM_SYMBOLS", min=1, hidden=True
        ),  # deprecated: --symbols is a list of names everywhere else
        rate: float | None = typer.Option(
            None,
            "--rate",
            envvar="ORDERS_SIM_RATE",
            min=0.1,
            show_default=f"{DEFAULT_RATE:g}",
            help="Total aggregate trades per second.",
        ),
        history: str | None = typer.Option(
            None,
            "--history",
            envvar="ORDERS_SIM_HISTORY",
            callback=validate_duration,
            metavar="DURATION",
            show_default="0",
            help="REST-only history before the start (e.g. 10m).",
        ),
        ws_port: int | None = typer.Option(
            None,
            "--ws-port",
            envvar="ORDERS_SIM_WS_PORT",
            show_default=str(DEFAULT_WS_PORT),
            help="0 = any free port.",
        ),
        rest_port: int | None = typer.Option(
            None,
            "--rest-port",
            envvar="ORDERS_SIM_REST_PORT",
            show_default=str(DEFAULT_REST_PORT),
            help="0 = any free port.",
        ),
        truth: Path | None = typer.Option(
            None, "--truth", envvar="ORDERS_SIM_TRUTH", help="Write every trade as JSONL on exit."
        ),
        *,
        out: Output,
    ) -> None:
        """Run the Binance-compatible simulator (WebSocket + REST) until Ctrl-C.

        Example: orders sim --symbol-count 50 --rate 1000 --truth truth.jsonl

        Example: orders sim --scenario chaos  (reconnects, stalls, drops: gaps to backfill)

        Example: orders sim --market spot,usdm,coinm  (a scenario applies to the first)

        The banner prints the command that ingests from it (orders run --ws-url …
        --rest-url …).
        """
        if old_symbols is not None:
            typer.echo(
                "orders sim: --symbols is deprecated (everywhere else it is a list of "
                "symbols): use --symbol-count N",
                err=True,
            )
        count = symbol_count if symbol_count is not None else old_symbols
        path = None if scenario is None else resolve_scenario(scenario)
        first, *others = parse_markets(market, allow_all=False)
        cfg = build_config(path, seed, count, rate, history, ws_port, rest_port, first)
        more = [build_config(None, seed, count, rate, history, 0, 0, m) for m in others]
        simulator = Simulator(cfg, *more)
        try:
            trio.run(_serve, simulator, out.json)
        except KeyboardInterrupt:
            pass
        finally:
            if truth is not None and simulator.ws_port:
                n = simulator.write_truth(truth)
                out.note(f"orders sim: wrote {n} trades to {truth}")
