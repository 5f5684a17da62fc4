"""One process records spot, USD-M and COIN-M at once (ingest/fleet.py): a simulator
serving the three markets, a real redis-server and the real ingesters; once the simulator
is frozen Redis equals its truth for every market (each trade once, info hashes, the bars
of every timeframe), `verify` is clean per market, and `tail` / `stats` read the market
asked for with --market."""

from __future__ import annotations

import signal
import subprocess
from functools import partial
from typing import Any

import orjson
import pytest
import trio

from orders_cli.sim import SimConfig, Simulator
from tests.integration.cliproc import ROOT, cli_env, collect, orders_argv
from tests.integration.harness import (
    Run,
    bar_mismatches,
    info_mismatches,
    keyspace_of,
    run_markets_until_complete,
)
from tests.integration.replay_server import wait_for
from tests.ops.helpers import run_main

pytestmark = pytest.mark.integration

MARKETS = ("spot", "usdm", "coinm")


async def _verify_all(run: Run, redis_url: str, into: dict[str, Any]) -> None:
    """`orders verify --market all` against the frozen simulator (still serving)."""
    argv = orders_argv(
        "verify", "--market", "all", "--json", "--redis-url", redis_url,
        "--rest-url", run.sim.rest_url, "--since", "2h",
    )  # fmt: skip
    with trio.fail_after(50):
        done = await trio.run_process(
            argv, cwd=ROOT, env=cli_env(), capture_stdout=True, capture_stderr=True, check=False
        )
    into["code"], into["out"], into["err"] = done.returncode, done.stdout, done.stderr


async def test_one_run_of_three_markets_equals_the_simulators_truth_for_each(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    cfgs = [
        SimConfig.from_fixture(n_symbols=6, seed=31 + i, total_rate=90.0, market=m)
        for i, m in enumerate(MARKETS)
    ]
    verified: dict[str, Any] = {}

    async def after(run: Run) -> None:
        await _verify_all(run, redis_server.url, verified)

    run, diffs = await run_markets_until_complete(
        cfgs, redis_server.url, live_s=5.0, settle_timeout=30.0, after=after,
        backfill_s=120.0,  # a futures cold start walks its window an hour of REST at a time
    )  # fmt: skip
    r = run.redis
    for market in MARKETS:
        truth, ks = run.sim.truth_by_symbol(market), keyspace_of(market)
        assert diffs[market].clean, (market, diffs[market].summary())
        assert sum(map(len, truth.values())) > 50, market
        ing = run.fleet.ingesters[market]
        assert not info_mismatches(r, ing.infos, market, ks), market
        problems, checked = bar_mismatches(r, truth, ks)
        assert not problems, (market, problems[:3])
        assert checked > 50, market
    # the prefixes keep the markets apart: no spot key holds a futures trade
    assert r.keys("usdm:trades:*") and r.keys("coinm:trades:*")
    # verify: clean on each market, one summary per market
    assert verified["code"] == 0, verified["err"].decode()
    summaries = [row for row in map(orjson.loads, verified["out"].splitlines()) if "symbols" in row]
    assert sorted(row["market"] for row in summaries) == sorted(MARKETS)

    # tail and stats read the market --market names
    truth = run.sim.truth_by_symbol("usdm")
    symbol = max(truth, key=lambda s: len(truth[s]))
    code, out, err = run_main(
        capfd, "tail", symbol, "--market", "usdm", "--since", "2h", "--no-follow", "--json",
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert code == 0, err
    tailed = [int(orjson.loads(line)["agg_trade_id"]) for line in out.splitlines()]
    assert tailed == [row["a"] for row in truth[symbol]]
    coinm = run.sim.truth_by_symbol("coinm")
    symbol = max(coinm, key=lambda s: len(coinm[s]))
    code, out, err = run_main(
        capfd, "stats", symbol, "--market", "coinm", "--tf", "1d", "--json",
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert code == 0, err
    (day,) = orjson.loads(out)["bars"]  # one document: the bars, the current window
    assert day["trades_count"] == len(coinm[symbol])
    code, _out, err = run_main(
        capfd, "stats", symbol, "--market", "spot", "--redis-url", redis_server.url
    )
    assert code == 2 and symbol in err, err  # a COIN-M symbol is not stored under spot


async def _run_until_every_market_stores(argv: list[str], r: Any, markets: tuple[str, ...]) -> str:
    """`orders ARGV` until its health record shows each of ``markets`` live and storing,
    then Ctrl-C; what it printed (its exit code checked)."""
    out = bytearray()
    with trio.fail_after(45):
        async with trio.open_nursery() as n:
            proc = await n.start(
                partial(trio.run_process, argv, cwd=ROOT, env=cli_env(), check=False,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            )  # fmt: skip
            eof = trio.Event()
            n.start_soon(collect, proc.stdout, out, eof)

            def every_market_stores() -> bool:
                keys = r.keys("*orders:health:*")
                if not keys:
                    return False
                sections = orjson.loads(r.get(keys[0])).get("markets", {})
                return sorted(sections) == sorted(markets) and all(
                    m["connections"]["live"] and m["trades_stored"] for m in sections.values()
                )

            await wait_for(every_market_stores, interval=0.2)
            proc.send_signal(signal.SIGINT)
            await eof.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert not r.keys("*orders:health:*")  # removed on the way out
    return text


async def test_orders_run_simulate_of_three_markets_reports_each_in_one_health_record(
    redis_server: Any,
) -> None:
    """The command itself: one process, one simulator, a section per market in its health
    record (what `orders status` shows), keys under each market's prefix."""
    argv = orders_argv(
        "run", "--simulate", "--market", "spot,usdm,coinm", "--sim-symbols", "4",
        "--sim-rate", "60", "--backfill", "2m", "--no-panel", "--redis-url", redis_server.url,
    )  # fmt: skip
    r = redis_server.client()
    text = await _run_until_every_market_stores(argv, r, MARKETS)
    assert "--market spot,usdm,coinm" in text  # the verify command it advertises
    assert r.keys("trades:*") and r.keys("usdm:trades:*") and r.keys("coinm:trades:*")


async def test_orders_run_of_two_markets_takes_a_websocket_url_per_market(
    redis_server: Any,
) -> None:
    """Against `orders sim --market spot,usdm` (each market under its own path): one
    --ws-url per market, one REST base for both (the paths carry the market)."""
    sim = Simulator(
        *(SimConfig.from_fixture(n_symbols=4, total_rate=40.0, market=m) for m in ("spot", "usdm"))
    )
    async with trio.open_nursery() as n:
        await n.start(sim.serve)
        ws = f"spot={sim.ws_url_for('spot')},usdm={sim.ws_url_for('usdm')}"
        argv = orders_argv(
            "run", "--market", "spot,usdm", "--ws-url", ws, "--rest-url", sim.rest_url,
            "--backfill", "2m", "--no-panel", "--redis-url", redis_server.url,
        )  # fmt: skip
        await _run_until_every_market_stores(argv, redis_server.client(), ("spot", "usdm"))
        n.cancel_scope.cancel()
