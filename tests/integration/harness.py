"""Run the real ingester against the simulator and a private redis-server, then compare
Redis with the simulator's ground truth, exactly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import orjson
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester
from orders_cli.redis_conn import connect
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry

KS = Keyspace()


def stored(r: Any, symbol: str) -> list[dict[str, Any]]:
    return [orjson.loads(m) for m in r.zrange(KS.trades_latest(symbol), 0, -1)]


def expected_member(row: dict[str, Any]) -> dict[str, Any]:
    """The seed-schema member of a truth row (event_time checked separately: it is E when
    the trade came live, T when it came from REST)."""
    return {
        "event_type": "aggTrade",
        "symbol": row["s"],
        "agg_trade_id": str(row["a"]),
        "price": row["p"],
        "quantity": row["q"],
        "first_trade_id": row["f"],
        "last_trade_id": row["l"],
        "trade_time": row["T"],
        "is_buyer_maker": row["m"],
    }


@attrs.define
class Diff:
    missing: dict[str, list[int]] = attrs.field(factory=dict)
    extra: dict[str, list[int]] = attrs.field(factory=dict)
    duplicates: dict[str, int] = attrs.field(factory=dict)
    wrong: dict[str, list[str]] = attrs.field(factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.duplicates or self.wrong)

    def summary(self) -> str:
        return (
            f"missing={sum(map(len, self.missing.values()))} "
            f"extra={sum(map(len, self.extra.values()))} "
            f"dups={sum(self.duplicates.values())} wrong={sum(map(len, self.wrong.values()))} "
            f"e.g. missing {dict(list(self.missing.items())[:3])} "
            f"wrong {list(self.wrong.items())[:2]}"
        )


def compare(r: Any, truth: dict[str, list[dict[str, Any]]], check_stream: bool = True) -> Diff:
    d = Diff()
    for symbol, rows in truth.items():
        members = stored(r, symbol)
        ids = [int(m["agg_trade_id"]) for m in members]
        want = {row["a"]: row for row in rows}
        if len(ids) != len(set(ids)):
            d.duplicates[symbol] = len(ids) - len(set(ids))
        miss = sorted(set(want) - set(ids))
        extra = sorted(set(ids) - set(want))
        if miss:
            d.missing[symbol] = miss
        if extra:
            d.extra[symbol] = extra
        for m in members:
            row = want.get(int(m["agg_trade_id"]))
            if row is None:
                continue
            body = {k: v for k, v in m.items() if k != "event_time"}
            if list(m) != [
                "event_type", "event_time", "symbol", "agg_trade_id", "price", "quantity",
                "first_trade_id", "last_trade_id", "trade_time", "is_buyer_maker",
            ]:  # fmt: skip
                d.wrong.setdefault(symbol, []).append(f"field order {list(m)}")
            if body != expected_member(row) or m["event_time"] not in (row["E"], row["T"]):
                d.wrong.setdefault(symbol, []).append(f"{m} != {row}")
        if check_stream:
            sids = [int(f[b"a"]) for _, f in r.xrange(KS.trades_stream(symbol))]
            if sorted(sids) != sorted(ids):
                d.wrong.setdefault(symbol, []).append(f"stream {len(sids)} vs zset {len(ids)}")
    return d


def open_gaps(r: Any, symbols: list[str]) -> dict[str, list[Any]]:
    out = {}
    for s in symbols:
        raw = r.hget(KS.state(s), "gaps")
        gaps = [g for g in orjson.loads(raw) if not g[3]] if raw else []
        if gaps:
            out[s] = gaps
    return out


@attrs.define
class Run:
    sim: Simulator
    ingester: Ingester
    telemetry: Telemetry
    redis: Any


async def run_until_complete(
    sim_cfg: SimConfig,
    redis_url: str,
    *,
    live_s: float,
    settle_timeout: float = 60.0,
    during: Callable[[Run], Awaitable[None]] | None = None,
    rest_via: Callable[[trio.Nursery, str], Awaitable[str]] | None = None,
    **cfg: Any,
) -> tuple[Run, Diff]:
    """Ingest for ``live_s`` seconds (``during`` runs meanwhile), freeze the simulator,
    wait until Redis equals the truth (or ``settle_timeout``), stop, compare.
    ``rest_via(nursery, sim_rest_url)``: starts something in front of the simulator's
    REST (a fault proxy) and returns the URL the ingester uses instead."""
    sim = Simulator(sim_cfg)
    client = connect(redis_url)
    telemetry = Telemetry()
    defaults: dict[str, Any] = {"listing_poll_s": 0, "prune_every_s": 0, "health_interval_s": 1}
    defaults.update(cfg)
    with trio.fail_after(live_s + settle_timeout + 60):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            rest_url = sim.rest_url if rest_via is None else await rest_via(n, sim.rest_url)
            run_cfg = RunConfig(
                redis_url=redis_url, ws_url=sim.ws_url, rest_url=rest_url, **defaults
            )
            ing = Ingester(run_cfg, get_source("spot"), client, telemetry)
            run = Run(sim, ing, telemetry, client)
            done = trio.Event()

            async def ingest() -> None:
                await ing.run()
                done.set()

            n.start_soon(ingest)
            with trio.move_on_after(live_s):
                if during is not None:
                    await during(run)
                await trio.sleep_forever()
            sim.stop_trading()
            with trio.move_on_after(settle_timeout):
                while True:
                    await trio.sleep(0.5)
                    truth = sim.truth_by_symbol()
                    diff = await trio.to_thread.run_sync(compare, client, truth, False)
                    gaps = await trio.to_thread.run_sync(open_gaps, client, list(truth))
                    if diff.clean and not gaps:
                        break
            ing.stop()
            await done.wait()
            n.cancel_scope.cancel()
    truth = sim.truth_by_symbol()
    return run, compare(client, truth)
