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

from orders_cli.cli.options import parse_markets
from orders_cli.errors import UsageError
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sim.scenario import ScenarioError, load_scenario

DEFAULT_WS_PORT = 9443  # Binance's spot stream port
DEFAULT_REST_PORT = 9080
DEFAULT_SYMBOLS = 300
DEFAULT_RATE = 200.0


def build_config(
    scenario: Path | None,
    seed: int | None,
    symbols: int | None,
    rate: float | None,
    history: float | None,
    ws_port: int | None,
    rest_port: int | None,
    market: str | None = None,
) -> SimConfig:
    """Scenario file (or the default universe), then command-line overrides."""
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
        changes["history_s"] = history
    changes["ws_port"] = ws_port if ws_port is not None else (cfg.ws_port or DEFAULT_WS_PORT)
    changes["rest_port"] = (
        rest_port if rest_port is not None else (cfg.rest_port or DEFAULT_REST_PORT)
    )
    return attrs.evolve(cfg, **changes)


async def _serve(sim: Simulator) -> None:
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
            _announce(sim)
            async for _ in signals:  # Ctrl-C or SIGTERM: stop cleanly, exit 0
                nursery.cancel_scope.cancel()
                break


def _announce(sim: Simulator) -> None:
    for market, engine in sim.engines.items():
        cfg, rules = engine.cfg, engine.rules
        n = sum(1 for s in cfg.symbols if s.status == "TRADING")
        typer.echo(
            f"orders sim: {market}: {len(cfg.symbols)} symbols ({n} TRADING), seed {cfg.seed}"
        )
        ws = sim.ws_url_for(market)
        stream = next((s.stream for s in cfg.symbols if s.status == "TRADING"), "")
        typer.echo(f"  ws   {ws}   (e.g. {ws}{rules.ws_route}/ws/{quote(stream, safe='@')})")
        example = f"{sim.rest_url}{rules.rest_prefix}/exchangeInfo"
        typer.echo(f"  rest {sim.rest_url} (e.g. {example})", nl=True)
    typer.echo("  Ctrl-C to stop")


def register(app: typer.Typer) -> None:
    @app.command("sim")
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
        scenario: Path | None = typer.Option(
            None, "--scenario", envvar="ORDERS_SIM_SCENARIO", help="Scenario file (JSON or TOML)."
        ),
        seed: int | None = typer.Option(None, "--seed", envvar="ORDERS_SIM_SEED"),
        symbols: int | None = typer.Option(
            None,
            "--symbols",
            envvar="ORDERS_SIM_SYMBOLS",
            help=(
                "How many trading symbols (a count) from the recorded exchangeInfo, plus "
                "a few scenario ones (BREAK, non-ASCII, TRD_GRP-only, idle). [default: 300]"
            ),
        ),
        rate: float | None = typer.Option(
            None, "--rate", envvar="ORDERS_SIM_RATE", help="Total aggregate trades per second."
        ),
        history: float | None = typer.Option(
            None, "--history", envvar="ORDERS_SIM_HISTORY", help="Seconds of REST-only history."
        ),
        ws_port: int | None = typer.Option(
            None, "--ws-port", envvar="ORDERS_SIM_WS_PORT", help=f"Default {DEFAULT_WS_PORT}."
        ),
        rest_port: int | None = typer.Option(
            None, "--rest-port", envvar="ORDERS_SIM_REST_PORT", help=f"Default {DEFAULT_REST_PORT}."
        ),
        truth: Path | None = typer.Option(
            None, "--truth", envvar="ORDERS_SIM_TRUTH", help="Write every trade as JSONL on exit."
        ),
    ) -> None:
        """Run the Binance-compatible simulator (WebSocket + REST) until Ctrl-C.

        Examples:

          orders sim --symbols 50 --rate 1000 --truth truth.jsonl

          orders sim --market spot,usdm,coinm    # a scenario applies to the first market
        """
        first, *others = parse_markets(market, allow_all=False)
        cfg = build_config(scenario, seed, symbols, rate, history, ws_port, rest_port, first)
        more = [build_config(None, seed, symbols, rate, history, 0, 0, m) for m in others]
        simulator = Simulator(cfg, *more)
        try:
            trio.run(_serve, simulator)
        except KeyboardInterrupt:
            pass
        finally:
            if truth is not None and simulator.ws_port:
                n = simulator.write_truth(truth)
                typer.echo(f"orders sim: wrote {n} trades to {truth}")
