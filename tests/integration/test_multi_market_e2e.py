"""One process records spot, USD-M and COIN-M at once (ingest/fleet.py): a simulator
serving the three markets, a real redis-server and the real ingesters; once the simulator
is frozen Redis equals its truth for every market (each trade once, info hashes, the bars
of every timeframe), `verify` is clean per market, and `tail` / `stats` read the market
asked for with --market."""

from __future__ import annotations

import subprocess
from typing import Any

import orjson
import pytest
import trio

from orders_cli.sim import SimConfig
from tests.integration.cliproc import ROOT, cli_env, orders_argv
from tests.integration.harness import (
    Run,
    bar_mismatches,
    info_mismatches,
    keyspace_of,
    run_markets_until_complete,
)
from tests.ops.helpers import run_main

pytestmark = pytest.mark.integration

MARKETS = ("spot", "usdm", "coinm")


async def _verify_all(run: Run, redis_url: str, into: dict[str, Any]) -> None:
    """`orders verify --market all` against the frozen simulator (still serving)."""
    argv = orders_argv(
        "verify", "--market", "all", "--json", "--redis-url", redis_url,
        "--rest-url", run.sim.rest_url, "--since", "2h",
    )  # fmt: skip
    with trio.fail_after(40):
        done = await trio.run_process(
            argv, cwd=ROOT, env=cli_env(), capture_stdout=True, capture_stderr=True, check=False
        )
    into["code"], into["out"], into["err"] = done.returncode, done.stdout, done.stderr


async def test_one_run_of_three_markets_equals_the_simulators_truth_for_each(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    cfgs = [
        SimConfig.from_fixture(n_symbols=12, seed=31 + i, total_rate=120.0, market=m)
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
        assert checked > 100, market
    # the prefixes keep the markets apart: no spot key holds a futures trade
    assert r.keys("usdm:trades:*") and r.keys("coinm:trades:*")
    # verify: clean on each market, one summary per market
    assert verified["code"] == 0, verified["err"].decode()
    summaries = [
        row for row in map(orjson.loads, verified["out"].splitlines()) if "symbols" in row
    ]
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
    (day, *_current) = [orjson.loads(line) for line in out.splitlines()]
    assert day["trades_count"] == len(coinm[symbol])
    code, _out, err = run_main(
        capfd, "stats", symbol, "--market", "spot", "--redis-url", redis_server.url
    )
    assert code == 2 and "not stored" in err or symbol in err  # not a spot symbol


def test_orders_run_takes_several_markets_in_one_process() -> None:
    """`orders run --simulate --market spot,usdm,coinm` starts one ingester per market."""
    from tests.integration.cliproc import interrupt_after

    proc = subprocess.Popen(
        orders_argv("run", "--simulate", "--market", "spot,usdm,coinm", "--sim-symbols", "5",
                    "--sim-rate", "30", "--no-panel", "--redis-url", "redis://127.0.0.1:1/0"),
        cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out = interrupt_after(proc, b"check it while it runs", timeout=30)
    assert proc.wait(timeout=10) != 0 or "usdm" in out
