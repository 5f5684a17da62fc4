"""The trio side of `orders run`: the ingester and its services (ingest/) plus what
surrounds them in a terminal (signals, live panel or log summaries, metrics endpoint,
the simulator of --simulate). Called from cmd_run via ``trio.run``."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import trio
from rich.console import Console
from rich.live import Live

from orders_cli.cli.console import no_control_echo
from orders_cli.cli.embedded_watch import watch_embedded
from orders_cli.cli.options import url_for
from orders_cli.cli.render_run import (
    MarketRates,
    RateMeter,
    logfmt,
    panel,
    stop_fields,
    stop_sentence,
    summary_fields,
    summary_line,
)
from orders_cli.compiled import BUILD
from orders_cli.config import RunConfig
from orders_cli.embedded import EmbeddedRedis
from orders_cli.gctune import tuned_gc
from orders_cli.health import HEALTH_TTL_S
from orders_cli.hints import command
from orders_cli.ingest.fleet import Fleet
from orders_cli.ingest.ingester import StoreClaim
from orders_cli.ingest.services import clear_health, run_services
from orders_cli.redis_types import RedisClient
from orders_cli.redis_url import redact
from orders_cli.sources.base import Source
from orders_cli.telemetry import Telemetry, merged

log = logging.getLogger("orders.run")
STOP_GRACE_S = 5.0
"""From the stop signal to the end of the run, whatever Redis does: the one number the
log prints and the run keeps."""
HEALTH_CLEAR_S = 0.5
"""The end of the grace kept for deleting the health key (the flush gets the rest)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@attrs.frozen
class Display:
    tty: bool
    summary_every_s: float = 10.0
    console: Console | None = None
    json_logs: bool = False


async def _signals(fleet: Fleet, stop: _Stop) -> None:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal or ssh session is gone) stop the
    run: what was received is flushed within :data:`STOP_GRACE_S`; a second signal stops
    at once. After SIGHUP the terminal is gone: the live panel stops drawing."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for sig in signals:
            if sig == signal.SIGHUP:
                stop.display.cancel()
            name = "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name
            if fleet.stopping:
                log.warning(
                    "second %s: stopping now; skipped: %s", name, skipped(fleet.telemetry())
                )
                stop.whole.cancel()
                return
            log.info(
                "stopping (%s): flushing what was received (at most %gs); %s again stops at once",
                name,
                STOP_GRACE_S,
                name,
            )
            fleet.stop()
            stop.begin(trio.current_time())


@attrs.define
class _Stop:
    """The cancel scopes a stop signal acts on: ``whole`` (the run), ``ingest`` (the run
    but for the health-key delete, which gets the last :data:`HEALTH_CLEAR_S`) and
    ``display``. ``flushed``: the ingester returned, everything received written."""

    whole: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    ingest: trio.CancelScope | None = None
    display: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    flushed: bool = False

    def begin(self, now: float) -> None:
        end = now + STOP_GRACE_S
        self.whole.deadline = min(self.whole.deadline, end)
        if self.ingest is not None:
            self.ingest.deadline = min(self.ingest.deadline, end - HEALTH_CLEAR_S)


async def _display(
    fleet: Fleet, d: Display, title: str, tail_flags: str, scope: trio.CancelScope
) -> None:
    """Until ``scope`` is cancelled; a terminal that is gone (EIO, EPIPE after a SIGHUP)
    ends the display, never the run."""
    with scope, contextlib.suppress(OSError):
        await _draw(fleet.telemetry, fleet.telemetries, d, title, tail_flags)


def tail_flags(cfg: RunConfig, embedded: EmbeddedRedis | None) -> str:
    """The options of `orders tail` that find this run's store (``cfg.market``: the
    market of the panel's example symbol)."""
    url = "" if embedded is not None else f" --redis-url {redact(cfg.redis_url)}"
    market = "" if cfg.market == "spot" else f" --market {cfg.market}"
    return url + (f" --namespace {cfg.namespace.rstrip(':')}" if cfg.namespace else "") + market


async def _draw(
    view: Callable[[], Telemetry],
    markets: Mapping[str, Telemetry],
    d: Display,
    title: str,
    tail_flags: str,
) -> None:
    """``view``: the run's telemetry, taken at each draw; ``markets``: each market's, a
    row each in the panel when there are several."""
    meter = RateMeter()
    rows = MarketRates(markets) if len(markets) > 1 else None
    if d.tty:
        console = d.console or Console()
        with (
            no_control_echo(sys.stderr),
            Live(console=console, refresh_per_second=4, transient=False) as live,
        ):
            while True:
                t = view()
                live.update(panel(t, meter.update(t), title, tail_flags, rows))
                await trio.sleep(0.25)
    while True:
        await trio.sleep(d.summary_every_s)
        t = view()
        fields = summary_fields(t, meter.update(t))
        log.info("%s", summary_line(t, fields["rate"]), extra={"fields": fields})


async def _ingest(fleet: Fleet, stop: _Stop) -> None:
    """The ingesters; once they returned (stopped and flushed) the services end too."""
    await fleet.run()
    stop.flushed = True
    if stop.ingest is not None:
        stop.ingest.cancel()


def _advertise(cfg: RunConfig, sim: Any) -> None:
    """The simulator's URLs and the command that checks the store against it."""
    several = len(sim.markets) > 1
    for market in sim.markets:
        log.info(
            "simulator: %sws %s, rest %s",
            f"{market}: " if several else "",
            sim.ws_url_for(market),
            sim.rest_url,
        )
    ns = f" --namespace {cfg.namespace.rstrip(':')}" if cfg.namespace else ""
    which = f" --market {','.join(sim.markets)}" if sim.markets != ["spot"] else ""
    verify = command(
        f"verify --redis-url {redact(cfg.redis_url)}{ns}{which} --rest-url {sim.rest_url}"
    )
    log.info("check it while it runs: %s", verify)  # the same store, or it finds nothing


def _market_cfg(cfg: RunConfig, market: str, sim: Any) -> RunConfig:
    """``market``'s settings: the simulator's URLs for it, or its --ws-url/--rest-url
    (one base for every market, or one per market)."""
    if sim is not None:
        ws, rest = sim.ws_url_for(market), sim.rest_url
    else:
        ws, rest = url_for(cfg.ws_url, market), url_for(cfg.rest_url, market)
    return attrs.evolve(cfg, market=market, ws_url=ws, rest_url=rest)


async def run_ingest(
    cfg: RunConfig,
    source: Source | Sequence[Source],
    redis: RedisClient,
    display: Display,
    *,
    sim_cfg: Any = None,
    title: str = "orders run",
    metrics_port: int | None = None,
    claim: StoreClaim | None = None,
    embedded: EmbeddedRedis | None = None,
) -> tuple[Telemetry, bool]:
    """``source``: the market, or several (one ingester each, ingest/fleet.py);
    ``sim_cfg``: with --simulate, the simulator's config, or one per market.
    ``claim``: how the keyspace is claimed (store/origin.py) once the exchange answered.
    ``embedded``: the embedded Redis this run uses, restarted if it dies. Returns the
    run's telemetry (every market's, merged) and whether a stop signal ended it (then
    :func:`report_stop`)."""
    sources = [source] if not isinstance(source, Sequence) else list(source)
    telemetries = {src.name: Telemetry() for src in sources}
    with contextlib.ExitStack() as stack:
        if metrics_port is not None:
            from orders_cli.metrics import serve_metrics

            server, _thread = serve_metrics(metrics_port, telemetries)
            stack.callback(server.shutdown)
            log.info("Prometheus metrics on http://127.0.0.1:%d/metrics", metrics_port)
        stack.enter_context(tuned_gc())
        sims = [] if sim_cfg is None else sim_cfg if isinstance(sim_cfg, list) else [sim_cfg]
        stopped = await _run(
            cfg, sources, redis, display, telemetries, sims, title, claim, embedded
        )
    return merged(telemetries), stopped


async def _run(
    cfg: RunConfig,
    sources: list[Source],
    redis: RedisClient,
    display: Display,
    telemetries: dict[str, Telemetry],
    sim_cfgs: list[Any],
    title: str,
    claim: StoreClaim | None,
    embedded: EmbeddedRedis | None,
) -> bool:
    stop = _Stop()
    # which build runs (pure Python or the opt-in mypyc one), and why a wanted one does not
    log.log(logging.WARNING if BUILD.note else logging.INFO, "%s", BUILD.describe)
    fleet: Fleet | None = None
    try:
        with stop.whole:
            async with trio.open_nursery() as root:
                stop.ingest = root.cancel_scope
                sim: Any = None
                if sim_cfgs:
                    from orders_cli.sim import Simulator

                    sim = Simulator(*sim_cfgs)
                    await root.start(sim.serve)
                    cfg = attrs.evolve(cfg, rest_url=sim.rest_url)
                markets = [(_market_cfg(cfg, s.name, sim), s, telemetries[s.name]) for s in sources]
                fleet = Fleet(markets, redis, claim=claim)
                root.start_soon(_signals, fleet, stop)
                if embedded is not None:
                    await root.start(watch_embedded, embedded, fleet.first.telemetry)
                root.start_soon(_ingest, fleet, stop)
                # every refusal (origin, in use, layout, unknown symbols) comes before this
                await fleet.wait_admitted()
                if sim is not None:
                    _advertise(cfg, sim)
                flags = tail_flags(fleet.first.cfg, embedded)
                root.start_soon(_display, fleet, display, title, flags, stop.display)
                await root.start(run_services, fleet)  # the health record from here on
    finally:  # every exit path: no ghost "healthy" record for `orders status` to find
        if fleet is not None and fleet.admitted:
            with trio.move_on_after(HEALTH_CLEAR_S, shield=True):
                await clear_health(fleet)
    assert fleet is not None
    flushed = stop.flushed
    if not flushed and fleet.stopping:
        log.warning(
            "stopped after the %gs grace with writes still pending (Redis did not answer): "
            "the next start re-fetches what is missing from the exchange",
            STOP_GRACE_S,
        )
    return fleet.stopping


def skipped(t: Telemetry) -> str:
    """What a second stop signal gives up (said when it comes)."""
    return (
        f"writing {t.channel_depth:,} received inputs (the next start fetches what is "
        f"missing from the exchange) and deleting the health record (it expires within "
        f"{HEALTH_TTL_S}s)"
    )


def report_stop(t: Telemetry, display: Display, embedded: EmbeddedRedis | None) -> None:
    """The run's last line after a stop signal: a sentence for the person at the
    terminal, logfmt (or JSON with --json-logs) for a log reader."""
    fields = stop_fields(t, time.monotonic() - t.started_monotonic, embedded_note(embedded))
    if display.json_logs:  # every line of --json-logs is JSON
        log.info("stopped", extra={"fields": fields})
    elif display.tty:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print(stop_sentence(fields), file=sys.stderr)
    else:
        log.info("stopped %s", logfmt(fields), extra={"fields": fields})


def embedded_note(embedded: EmbeddedRedis | None) -> str | None:
    """After the run's exit stack closed: did the embedded Redis stop with it?"""
    if embedded is None:
        return None
    return "left running" if embedded.alive() else "stopped"
