"""The trio side of `orders run`: the ingester and its services (ingest/) plus what
surrounds them in a terminal (signals, live panel or log summaries, metrics endpoint,
the simulator of --simulate). Called from cmd_run via ``trio.run``."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from typing import Any

import attrs
import trio
from rich.console import Console
from rich.live import Live

from orders_cli.cli.embedded_watch import watch_embedded
from orders_cli.cli.render_run import RateMeter, panel, summary_fields, summary_line
from orders_cli.compiled import BUILD
from orders_cli.config import RunConfig
from orders_cli.embedded import EmbeddedRedis
from orders_cli.gctune import tuned_gc
from orders_cli.ingest.ingester import Ingester
from orders_cli.ingest.services import clear_health, run_services
from orders_cli.redis_types import RedisClient
from orders_cli.redis_url import redact
from orders_cli.sources.base import Source
from orders_cli.telemetry import Telemetry

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


async def _signals(ing: Ingester, stop: _Stop) -> None:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal or ssh session is gone) stop the
    run: what was received is flushed within :data:`STOP_GRACE_S`; a second signal stops
    at once. After SIGHUP the terminal is gone: the live panel stops drawing."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for sig in signals:
            if sig == signal.SIGHUP:
                stop.display.cancel()
            if ing.stopping:
                log.warning("second signal: stopping now")
                stop.whole.cancel()
                return
            log.info(
                "stopping (%s): flushing what was received (at most %gs)",
                signal.Signals(sig).name,
                STOP_GRACE_S,
            )
            ing.stop()
            stop.begin(trio.current_time())


@attrs.define
class _Stop:
    """The cancel scopes a stop signal acts on: ``whole`` (the run and its health-key
    delete), ``ingest`` (the run, ended :data:`HEALTH_CLEAR_S` earlier) and ``display``."""

    whole: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    ingest: trio.CancelScope | None = None
    display: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    def begin(self, now: float) -> None:
        end = now + STOP_GRACE_S
        self.whole.deadline = min(self.whole.deadline, end)
        if self.ingest is not None:
            self.ingest.deadline = min(self.ingest.deadline, end - HEALTH_CLEAR_S)


async def _display(t: Telemetry, d: Display, title: str, scope: trio.CancelScope) -> None:
    """Until ``scope`` is cancelled; a terminal that is gone (EIO, EPIPE after a SIGHUP)
    ends the display, never the run."""
    with scope, contextlib.suppress(OSError):
        await _draw(t, d, title)


async def _draw(t: Telemetry, d: Display, title: str) -> None:
    meter = RateMeter()
    if d.tty:
        console = d.console or Console()
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                live.update(panel(t, meter.update(t), title))
                await trio.sleep(0.25)
    while True:
        await trio.sleep(d.summary_every_s)
        fields = summary_fields(t, meter.update(t))
        log.info("%s", summary_line(t, fields["rate"]), extra={"fields": fields})


async def run_ingest(
    cfg: RunConfig,
    source: Source,
    redis: RedisClient,
    display: Display,
    *,
    sim_cfg: Any = None,
    title: str = "orders run",
    metrics_port: int | None = None,
    origin: str | None = None,
    embedded: EmbeddedRedis | None = None,
) -> Telemetry:
    """``origin``: the keyspace claim (store/origin.py), made once the exchange answered.
    ``embedded``: the embedded Redis this run uses, restarted if it dies."""
    telemetry = Telemetry()
    with contextlib.ExitStack() as stack:
        if metrics_port is not None:
            from orders_cli.metrics import serve_metrics

            server, _thread = serve_metrics(metrics_port, telemetry)
            stack.callback(server.shutdown)
            log.info("Prometheus metrics on http://127.0.0.1:%d/metrics", metrics_port)
        stack.enter_context(tuned_gc())
        await _run(cfg, source, redis, display, telemetry, sim_cfg, title, origin, embedded)
    return telemetry


async def _run(
    cfg: RunConfig,
    source: Source,
    redis: RedisClient,
    display: Display,
    telemetry: Telemetry,
    sim_cfg: Any,
    title: str,
    origin: str | None,
    embedded: EmbeddedRedis | None,
) -> None:
    stop = _Stop()
    flushed = False
    # which build runs (pure Python or the opt-in mypyc one), and why a wanted one does not
    log.log(logging.WARNING if BUILD.note else logging.INFO, "%s", BUILD.describe)
    with stop.whole:
        async with trio.open_nursery() as root:
            stop.ingest = root.cancel_scope
            if sim_cfg is not None:
                from orders_cli.sim import Simulator

                sim = Simulator(sim_cfg)
                await root.start(sim.serve)
                cfg = attrs.evolve(cfg, ws_url=sim.ws_url, rest_url=sim.rest_url)
                log.info("simulator: ws %s, rest %s", sim.ws_url, sim.rest_url)
                ns = f" --namespace {cfg.namespace.rstrip(':')}" if cfg.namespace else ""
                log.info(  # the same store: a verify of another Redis would find nothing
                    "check it while it runs: orders verify --redis-url %s%s --rest-url %s",
                    redact(cfg.redis_url),
                    ns,
                    sim.rest_url,
                )
            ing = Ingester(cfg, source, redis, telemetry, origin=origin)
            root.start_soon(_signals, ing, stop)
            root.start_soon(_display, telemetry, display, title, stop.display)
            if embedded is not None:
                await root.start(watch_embedded, embedded, telemetry)
            await root.start(run_services, ing)
            await ing.run()
            flushed = True
            root.cancel_scope.cancel()
        await clear_health(ing)
    if not flushed and ing.stopping:
        log.warning(
            "stopped after the %gs grace with writes still pending (Redis did not answer): "
            "the next start re-fetches what is missing from the exchange",
            STOP_GRACE_S,
        )
    if ing.stopping:
        if display.json_logs:  # every line of --json-logs is JSON
            fields = summary_fields(telemetry, 0.0)
            del fields["rate"]
            log.info("stopped", extra={"fields": fields})
        else:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                print(summary_line(telemetry, 0.0).replace("rate=0/s ", ""), file=sys.stderr)
