"""simulator → `orders run` (in-process) → a real Redis Cluster, and the commands that
span symbols run by a user meanwhile and afterwards: `status` sees the ingester, `tail`
follows symbols on every primary, `verify` against the simulator's REST is clean, `tail
--since` prints every stored trade, `prune --dry-run` finds nothing to remove."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import pytest
import trio

from orders_cli.ingest.services import clear_health, health
from orders_cli.redis_conn import connect
from orders_cli.sim import SimConfig
from tests.integration.harness import KS, Run, run_markets_until_complete
from tests.redis_topologies import ClusterOfServers

pytestmark = pytest.mark.integration


async def orders(*args: str, within_s: float = 30) -> tuple[int, bytes, str]:
    """``orders ARGS`` as a user runs it: (exit code, stdout, stderr)."""
    with trio.fail_after(within_s):
        proc = await trio.run_process(
            [sys.executable, "-m", "orders_cli", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return proc.returncode, proc.stdout, proc.stderr.decode()


def one_per_primary(cluster: ClusterOfServers, cfg: SimConfig) -> list[str]:
    """The busiest symbol whose keys are on each primary."""
    chosen: dict[int, str] = {}
    for spec in cfg.symbols:
        if spec.rate > 0:
            chosen.setdefault(cluster.master_of(KS.trades_stream(spec.symbol)).port, spec.symbol)
    assert len(chosen) == len(cluster.primaries())
    return list(chosen.values())


async def test_status_tail_verify_and_prune_on_a_cluster_the_ingester_fills(
    redis_cluster_shared: ClusterOfServers,
) -> None:
    cluster = redis_cluster_shared
    url = cluster.url
    cfg = SimConfig.from_fixture(n_symbols=30, seed=5, total_rate=150.0)
    followed = one_per_primary(cluster, cfg)
    seen: dict[str, Any] = {}

    async def during(run: Run) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(health, run.fleet)  # what `orders run` publishes
            with trio.fail_after(8):
                while True:  # healthy once every connection is live and a write confirmed
                    rc, out, err = await orders("status", "--json", "--redis-url", url)
                    seen["status"] = orjson.loads(out)
                    if rc == 0:
                        break
                    await trio.sleep(0.5)
            nursery.cancel_scope.cancel()
        await clear_health(run.fleet)
        rc, out, err = await orders(
            "tail", *followed, "--count", "30", "--json", "--redis-url", url, within_s=20
        )
        assert rc == 0, err
        seen["tail"] = out.splitlines()

    async def after(run: Run) -> None:
        rc, out, err = await orders("verify", "--json", "--redis-url", url,
                                    "--rest-url", run.sim.rest_url, within_s=60)  # fmt: skip
        seen["verify"] = (rc, [orjson.loads(line) for line in out.splitlines()], err)
        seen["since"] = await orders(
            "tail", *followed, "--since", "1h", "--no-follow", "--json", "--redis-url", url
        )
        seen["prune"] = await orders("prune", "--dry-run", "--json", "--redis-url", url)

    _, diffs = await run_markets_until_complete([cfg], url, live_s=10.0, during=during, after=after)
    assert diffs["spot"].clean, diffs["spot"].summary()
    status = seen["status"]
    assert status["healthy"], status["problems"]
    assert "tail" in seen, "`during` ran out of time"
    assert status["redis"]["mode"] == "cluster" and len(status["redis"]["primaries"]) == 3
    assert status["store"]["symbols"] > 0 and len(status["ingesters"]) == 1

    client = connect(url)
    stored = {s: set(client.zrange(KS.trades_latest(s), 0, -1)) for s in followed}
    tailed = seen["tail"]
    assert len(tailed) == 30 and all(any(m in stored[s] for s in followed) for m in tailed)
    ids = [(orjson.loads(m)["symbol"], int(orjson.loads(m)["agg_trade_id"])) for m in tailed]
    assert len(set(ids)) == len(ids)  # nothing twice

    rc, rows, err = seen["verify"]
    assert rc == 0, (rows, err)
    assert rows[-1]["summary"] and rows[-1]["ok"] and len(rows) > 20

    rc, out, err = seen["since"]
    assert rc == 0, err
    assert set(out.splitlines()) == set().union(*stored.values())
    rc, out, err = seen["prune"]
    assert rc == 0, err
    assert orjson.loads(out)["totals"]["trades"] == 0
    client.close()
