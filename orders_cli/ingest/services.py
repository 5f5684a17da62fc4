"""The run-time services around the ingesters of a run (ingest/fleet.py): Redis memory
facts for the panel, each market's in-run retention pass, and the one health record
`orders status` reads (with a section per market)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio

from orders_cli.clock import now_ms
from orders_cli.errors import OrdersError
from orders_cli.health import market_section, publish_health
from orders_cli.ingest.fleet import Fleet
from orders_cli.ingest.ingester import Ingester
from orders_cli.redis_conn import memory
from orders_cli.store.prune import prune_steps
from orders_cli.store.retention_policy import PruneReport, RetentionPolicy

log = logging.getLogger("orders.run")


async def run_services(fleet: Fleet, *, task_status: trio.TaskStatus[None]) -> None:
    """Run every service of ``fleet`` until cancelled; ``started()`` once they are."""
    async with trio.open_nursery() as n:
        n.start_soon(redis_facts, fleet)
        if fleet.cfg.prune_every_s > 0:
            n.start_soon(retention, fleet)
        n.start_soon(health, fleet)
        task_status.started()


async def redis_facts(fleet: Fleet, every_s: float = 5.0, alpha: float = 0.3) -> None:
    """Redis memory for the panel, health and metrics: used, max, and how fast it grows
    (smoothed over samples ``every_s`` apart) for the time to full. One Redis: every
    market's telemetry gets the same facts."""
    prev: tuple[float, int] | None = None
    rate: float | None = None
    while True:
        try:
            used, limit, policy = await fleet.first.worker.call(memory)
            now = trio.current_time()
            if prev is not None and now > prev[0]:
                step = (used - prev[1]) / (now - prev[0])
                rate = step if rate is None else rate + alpha * (step - rate)
            prev = (now, used)
            for t in fleet.telemetries.values():
                t.redis_used_memory = used
                t.redis_maxmemory = limit
                t.redis_eviction_policy = policy
                t.redis_memory_rate = rate
        except OrdersError:
            pass  # the writer shows Redis as retrying
        await trio.sleep(every_s)


async def retention(fleet: Fleet) -> None:
    """The in-run retention pass, every ``prune_every_s``: one market after another (they
    share the namespace's prune lock), one chunk per turn of the Redis thread, so the
    writers' batches go in between (a pass may delete millions of trades); a pass that
    fails (lock held, Redis away or refusing) is skipped, never the run."""
    warned = dict.fromkeys(fleet.ingesters, False)  # once per episode of a clock ahead
    while True:
        await trio.sleep(fleet.cfg.prune_every_s)
        for name, ing in fleet.ingesters.items():
            warnings = await _retention_pass(ing, name if len(warned) > 1 else "")
            if warnings is None:  # skipped: the episode goes on
                continue
            if warnings and not warned[name]:
                log.warning("retention pass: %s", "; ".join(warnings))
            warned[name] = bool(warnings)


async def _retention_pass(ing: Ingester, market: str) -> list[str] | None:
    """One pass over ``ing``'s keyspace: its warnings, None when it was skipped."""
    cfg = ing.cfg
    policy = RetentionPolicy(trades_s=cfg.retention_s, stream_s=cfg.stream_retention_s)
    report = PruneReport(now_ms=now_ms(), dry_run=False)
    steps = prune_steps(ing.redis, ing.ks, report, policy)
    which = f" ({market})" if market else ""
    try:
        while await ing.worker.run(next, steps, False):
            pass
        log.debug("retention pass%s: %s", which, report.totals)
        for note in report.notes:
            log.info("retention pass%s: %s", which, note)
    except OrdersError as exc:  # LockHeld, RedisUnavailable, RedisRejected
        log.info("retention pass%s skipped: %s", which, exc)
        return None
    finally:
        with trio.move_on_after(2, shield=True), contextlib.suppress(OrdersError):
            await ing.worker.run(steps.close)  # releases the lock if held
    return list(report.warnings)


async def health(fleet: Fleet) -> None:
    """One record for the run (its id names the Redis connection `orders status` sees),
    totals on top and a section per market (``markets``)."""
    cfg, first = fleet.cfg, fleet.first

    async def write_health(key: str, value: bytes, ttl: int) -> None:
        with contextlib.suppress(OrdersError):
            await first.worker.call(lambda r: r.set(key, value, ex=ttl))

    def extra() -> dict[str, Any]:
        """A section per market; the silent symbols (named with their market when there
        are several) come with the merged telemetry."""
        return {"markets": {name: market_section(t) for name, t in fleet.telemetries.items()}}

    await publish_health(
        write_health, first.ks, fleet.telemetry, cfg.ingester_id, cfg.health_interval_s,
        extra=extra,
    )  # fmt: skip


async def clear_health(fleet: Fleet) -> None:
    """A clean stop: no ghost "healthy" record for `orders status` to find."""
    first = fleet.first
    with contextlib.suppress(OrdersError):
        await first.worker.call(lambda r: r.delete(first.ks.health(first.cfg.ingester_id)))
