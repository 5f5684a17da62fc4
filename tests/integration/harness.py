"""Run the real ingester against the simulator and a private redis-server, then compare
Redis with the simulator's ground truth, exactly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import orjson
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.fleet import Fleet
from orders_cli.ingest.ingester import Ingester
from orders_cli.models import SymbolInfo, Trade
from orders_cli.redis_conn import connect
from orders_cli.sim import SimConfig, Simulator
from orders_cli.sources.registry import get_source
from orders_cli.stats.bars import Bar, bars_from_trades_reference
from orders_cli.stats.codec import decode_bar
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry
from orders_cli.timeframes import TIMEFRAMES

KS = Keyspace()


def stored(r: Any, symbol: str, ks: Keyspace = KS) -> list[dict[str, Any]]:
    return [orjson.loads(m) for m in r.zrange(ks.trades_latest(symbol), 0, -1)]


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


def compare(
    r: Any, truth: dict[str, list[dict[str, Any]]], check_stream: bool = True, ks: Keyspace = KS
) -> Diff:
    """Redis (``ks``: one market's keys) against the simulator's truth of that market."""
    d = Diff()
    for symbol, rows in truth.items():
        members = stored(r, symbol, ks)
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
            sids = [int(f[b"a"]) for _, f in r.xrange(ks.trades_stream(symbol))]
            if sorted(sids) != sorted(ids):
                d.wrong.setdefault(symbol, []).append(f"stream {len(sids)} vs zset {len(ids)}")
    return d


def open_gaps(r: Any, symbols: list[str], ks: Keyspace = KS) -> dict[str, list[Any]]:
    out = {}
    for s in symbols:
        raw = r.hget(ks.state(s), "gaps")
        gaps = [g for g in orjson.loads(raw) if not g[3]] if raw else []
        if gaps:
            out[s] = gaps
    return out


def truth_trade(row: dict[str, Any]) -> Trade:
    return Trade(
        row["s"], row["a"], row["p"], row["q"], row["f"], row["l"], row["T"], row["m"], row["E"]
    )


IGNORED_BAR_FIELDS = frozenset({"last_update_time"})


def bar_fields(bar: Bar, ignored: frozenset[str] = IGNORED_BAR_FIELDS) -> dict[str, Any]:
    return {k: v for k, v in bar._asdict().items() if k not in ignored}


def bar_mismatches(
    r: Any, truth: dict[str, list[dict[str, Any]]], ks: Keyspace = KS
) -> tuple[list[str], int]:
    """Every stored bar of every timeframe against the naive reference computed from the
    truth: (what differs, how many bars were checked)."""
    problems: list[str] = []
    checked = 0
    for symbol, rows in truth.items():
        if not rows:
            continue
        reference = bars_from_trades_reference([truth_trade(row) for row in rows])
        for tf in TIMEFRAMES:
            stored_bars = [decode_bar(m) for m in r.zrange(ks.bars(symbol, tf), 0, -1)]
            got = {b.window_start: b for b in stored_bars}
            want = reference[tf]
            if len(got) != len(stored_bars):
                problems.append(f"{symbol} {tf}: two bars for one window")
            if sorted(got) != sorted(want):
                problems.append(f"{symbol} {tf}: windows differ")
                continue
            for ws, bar in want.items():
                if bar_fields(got[ws]) != bar_fields(bar):
                    problems.append(f"{symbol} {tf} {ws}: {got[ws]} != {bar}")
                checked += 1
    return problems, checked


def info_mismatches(
    r: Any, infos: dict[str, SymbolInfo], market: str, ks: Keyspace = KS
) -> list[str]:
    """Every listed symbol's info hash (BREAK ones included) against what was listed."""
    problems = []
    for symbol, listed in infos.items():
        info = {k.decode(): v.decode() for k, v in r.hgetall(ks.symbol_info(symbol)).items()}
        if info.get("status") != listed.status:
            problems.append(f"{symbol}: status {info.get('status')} != {listed.status}")
        if not (info.get("base_asset") and info.get("quote_asset")):
            problems.append(f"{symbol}: no assets in {info}")
        if info.get("market") != market:
            problems.append(f"{symbol}: market {info.get('market')} != {market}")
    return problems


@attrs.define
class Run:
    sim: Simulator
    fleet: Fleet
    redis: Any

    @property
    def ingester(self) -> Ingester:
        """The first market's ingester (the only one in a run of one market)."""
        return self.fleet.first

    @property
    def telemetry(self) -> Telemetry:
        return self.fleet.first.telemetry


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
    """Ingest ``sim_cfg``'s market for ``live_s`` seconds (``during`` runs meanwhile),
    freeze the simulator, wait until Redis equals the truth (or ``settle_timeout``), stop,
    compare. ``rest_via(nursery, sim_rest_url)``: starts something in front of the
    simulator's REST (a fault proxy) and returns the URL the ingester uses instead."""
    run, diffs = await run_markets_until_complete(
        [sim_cfg], redis_url, live_s=live_s, settle_timeout=settle_timeout, during=during,
        rest_via=rest_via, **cfg,
    )  # fmt: skip
    return run, diffs[sim_cfg.market]


def keyspace_of(market: str) -> Keyspace:
    return Keyspace(market_prefix=get_source(market).key_prefix)


def _settled(client: Any, sim: Simulator) -> bool:
    """Redis equals the truth of every market, with no gap left open."""
    for market in sim.markets:
        truth, ks = sim.truth_by_symbol(market), keyspace_of(market)
        if not compare(client, truth, False, ks).clean or open_gaps(client, list(truth), ks):
            return False
    return True


async def run_markets_until_complete(
    sim_cfgs: list[SimConfig],
    redis_url: str,
    *,
    live_s: float,
    settle_timeout: float = 60.0,
    during: Callable[[Run], Awaitable[None]] | None = None,
    rest_via: Callable[[trio.Nursery, str], Awaitable[str]] | None = None,
    after: Callable[[Run], Awaitable[None]] | None = None,
    **cfg: Any,
) -> tuple[Run, dict[str, Diff]]:
    """:func:`run_until_complete` of one simulator serving every market of ``sim_cfgs``
    and one process ingesting them all (ingest/fleet.py); a Diff per market. ``after``
    runs once the ingesters stopped, while the (frozen) simulator still serves."""
    sim = Simulator(*sim_cfgs)
    client = connect(redis_url)
    defaults: dict[str, Any] = {"listing_poll_s": 0, "prune_every_s": 0, "health_interval_s": 1}
    defaults.update(cfg)
    with trio.fail_after(live_s + settle_timeout + 60):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            rest_url = sim.rest_url if rest_via is None else await rest_via(n, sim.rest_url)
            markets = [
                (
                    RunConfig(
                        redis_url=redis_url,
                        market=m,
                        ws_url=sim.ws_url_for(m),
                        rest_url=rest_url,
                        **defaults,
                    ),
                    get_source(m),
                    Telemetry(),
                )
                for m in sim.markets
            ]
            fleet = Fleet(markets, client)
            run = Run(sim, fleet, client)
            done = trio.Event()

            async def ingest() -> None:
                await fleet.run()
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
                    if await trio.to_thread.run_sync(_settled, client, sim):
                        break
            fleet.stop()
            await done.wait()
            if after is not None:
                await after(run)
            n.cancel_scope.cancel()
    diffs = {m: compare(client, sim.truth_by_symbol(m), ks=keyspace_of(m)) for m in sim.markets}
    return run, diffs
