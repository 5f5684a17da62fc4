"""`orders run` keeps its embedded Redis up: a server that died (crash, OOM kill, a stray
SHUTDOWN) is restarted on the same data dir, whoever had started it. A hung server is
alive and left alone (the writer retries; restarting beside it would split the data)."""

from __future__ import annotations

import logging

import trio

from orders_cli.embedded import EmbeddedRedis
from orders_cli.errors import RedisUnavailable
from orders_cli.retry import Backoff
from orders_cli.telemetry import Telemetry

log = logging.getLogger("orders.embedded")
WATCH_EVERY_S = 1.0


async def watch_embedded(
    server: EmbeddedRedis,
    telemetry: Telemetry,
    *,
    every_s: float = WATCH_EVERY_S,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Forever: check every ``every_s`` that the server lives; restart it when not
    (failed restarts are retried with capped backoff)."""
    backoff = Backoff(base=every_s, cap=30.0)
    task_status.started()
    delay = every_s
    while True:
        await trio.sleep(delay)
        delay = every_s
        if await trio.to_thread.run_sync(server.alive, abandon_on_cancel=True):
            backoff.reset()
            continue
        log.warning("embedded Redis (data in %s) is not running: restarting it", server.data_dir)
        try:
            url = await trio.to_thread.run_sync(server.restart, abandon_on_cancel=True)
        except RedisUnavailable as exc:
            delay = every_s + backoff.next()
            log.error("embedded Redis did not restart (%s): trying again in %.0fs", exc, delay)
            continue
        telemetry.count("embedded_restarts")
        log.info("embedded Redis %s: %s", "reused" if server.reused else "restarted", url)
