"""`orders status`, `prune` and `reset` against a real Redis Cluster (3 primaries, a replica
each): health keys, named ingester connections, memory and refusals of every primary;
retention, its lock and its archive; the wipe of a namespace, on every primary. Each
answers what it answers on one redis-server holding the same trades."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from orders_cli.clock import now_ms
from orders_cli.health import snapshot
from orders_cli.models import Trade
from orders_cli.redis_conn import connect, ingester_name
from orders_cli.store.keys import Keyspace
from orders_cli.store.prune_lock import PruneLock
from orders_cli.telemetry import Telemetry
from tests.ops.cluster_helpers import KS, SYMBOLS, Both, assert_spread, dump, fill
from tests.ops.helpers import run_main
from tests.redis_topologies import ClusterOfServers, SentinelSet
from tests.store.redis_faults import out_of_memory

pytestmark = pytest.mark.integration

INGESTERS = ("host-1", "host-4", "host-2")
"""Their health keys' slots are on each of the three primaries."""
DEMO = Keyspace(namespace="demo:")
KEEP_MS = 20 * 60_000


@pytest.fixture
def both(redis_cluster_shared: ClusterOfServers, redis_shared: Any) -> Iterator[Both]:
    b = Both(redis_cluster_shared, redis_shared)
    yield b
    b.close()


def _publish(r: Any, ingester: str) -> None:
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    tel.redis_state = "ok"
    r.set(KS.health(ingester), orjson.dumps(snapshot(tel, ingester)), ex=60)


def _status(capfd: pytest.CaptureFixture[str], url: str) -> tuple[int, dict[str, Any]]:
    rc, out, err = run_main(capfd, "status", "--json", "--redis-url", url)
    assert out, err
    return rc, orjson.loads(out)


def test_status_says_cluster_and_shows_every_primarys_memory_and_their_total(
    both: Both, capfd: pytest.CaptureFixture[str]
) -> None:
    fill(both.rc, now_ms())
    for ingester in INGESTERS:
        _publish(both.rc, ingester)
    assert_spread(both.cluster, [KS.health(i) for i in INGESTERS])
    rc, doc = _status(capfd, both.cluster.url)
    assert rc == 0, doc["problems"]
    assert sorted(h["ingester_id"] for h in doc["ingesters"]) == sorted(INGESTERS)
    assert doc["store"] == {"symbols": len(SYMBOLS), "trades": 40 * len(SYMBOLS)}
    red = doc["redis"]
    assert red["mode"] == "cluster"
    nodes = red["primaries"]
    assert sorted(n["node"] for n in nodes) == sorted(
        f"127.0.0.1:{s.port}" for s in both.cluster.primaries()
    )
    assert red["used_memory"] == sum(n["used_memory"] for n in nodes)
    assert all(n["used_memory"] > 0 and n["role"] == "master" for n in nodes)
    rc, out, _ = run_main(capfd, "status", "-o", "table", "--redis-url", both.cluster.url)
    assert "redis: cluster of 3 primaries, taking writes" in out
    assert all(f"primary {n['node']}: used" in out for n in nodes)
    _, single = _status(capfd, both.single.url)
    assert single["redis"]["mode"] == "standalone" and single["redis"]["primaries"] == []


def test_status_on_a_sentinel_primary_says_sentinel(
    redis_sentinel: SentinelSet, capfd: pytest.CaptureFixture[str]
) -> None:
    _, doc = _status(capfd, redis_sentinel.url)  # unhealthy: no ingester runs
    assert doc["redis"]["mode"] == "sentinel" and doc["redis"]["role"] == "master"
    assert doc["redis"]["primaries"] == []


def test_status_sees_an_ingester_connected_to_any_primary(
    redis_cluster_shared: ClusterOfServers, capfd: pytest.CaptureFixture[str]
) -> None:
    for server in redis_cluster_shared.primaries():
        with server.client() as conn:  # an ingester's connection to this primary only
            conn.client_setname(ingester_name(f"on-{server.port}"))
            rc, doc = _status(capfd, redis_cluster_shared.url)
        assert rc == 1
        assert doc["redis"]["connected_ingesters"] == [f"on-{server.port}"]
        assert (
            f"ingester on-{server.port} is connected to Redis but reports no health"
            in (doc["problems"][0])
        )


def test_status_names_the_primary_that_refuses_writes(
    redis_cluster_shared: ClusterOfServers, capfd: pytest.CaptureFixture[str]
) -> None:
    for server in redis_cluster_shared.primaries():
        with server.client() as conn, out_of_memory(conn):
            rc, doc = _status(capfd, redis_cluster_shared.url)
        assert rc == 1
        assert doc["redis"]["refusing"] == "OOM"
        refusing = [n["node"] for n in doc["redis"]["primaries"] if n["refusing"]]
        assert refusing == [f"127.0.0.1:{server.port}"]
        assert f"Redis refusing writes (OOM): primary 127.0.0.1:{server.port}: " in (
            " ".join(doc["problems"])
        )


def test_prune_dry_run_then_prune_remove_what_they_remove_on_one_server(
    both: Both, capfd: pytest.CaptureFixture[str]
) -> None:
    now = now_ms()
    trades = fill(both.rc, now)
    fill(both.r1, now)
    args = ("prune", "--keep", "20m", "--stream-retention", "10m", "--bars", "1m=15m", "--json")
    (rc, out, err), (_, out1, _) = both.run(capfd, *args, "--dry-run")
    assert rc == 0, err
    report = orjson.loads(out)
    assert report["totals"]["trades"] == len(_older(trades, KEEP_MS))
    assert report["totals"]["stream"] > report["totals"]["trades"]
    assert report["totals"]["bars"] > 0
    assert _same_report(report, orjson.loads(out1))
    before = dump(both.rc)
    assert before == dump(both.r1)
    (rc, out, err), (_, out1, _) = both.run(capfd, *args)
    assert rc == 0, err
    assert orjson.loads(out)["totals"] == report["totals"]
    assert _same_report(orjson.loads(out), orjson.loads(out1))
    assert dump(both.rc) == dump(both.r1) != before
    assert not both.rc.exists(KS.prune_lock())


def _older(trades: list[Trade], keep_ms: int) -> set[tuple[str, int]]:
    """What a prune keeping ``keep_ms`` removes: its cut is measured from the newest trade."""
    cut = max(t.trade_time for t in trades) - keep_ms
    return {(t.symbol, t.agg_id) for t in trades if t.trade_time < cut}


def _same_report(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "now_ms"} == {
        k: v for k, v in b.items() if k != "now_ms"
    }


def test_prune_waits_for_the_lock_held_on_the_cluster(
    redis_cluster_shared: ClusterOfServers, capfd: pytest.CaptureFixture[str]
) -> None:
    url = redis_cluster_shared.url
    r = connect(url)
    fill(r, now_ms())
    with PruneLock(r, KS.prune_lock()):
        rc, out, _ = run_main(capfd, "prune", "--keep", "20m", "--json", "--redis-url", url)
        assert rc != 0 and "another prune holds" in orjson.loads(out)["lock_held"]
        assert r.zcard(KS.trades_latest("BTCUSDT")) == 40
    rc, out, err = run_main(capfd, "prune", "--keep", "20m", "--json", "--redis-url", url)
    assert rc == 0, err
    assert r.zcard(KS.trades_latest("BTCUSDT")) < 40
    r.close()


def test_prune_archive_writes_what_one_server_writes(
    both: Both, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from orders_cli.store.archive import list_archive, read_rows

    now = now_ms()
    trades = fill(both.rc, now)
    fill(both.r1, now)
    dirs = (tmp_path / "cluster", tmp_path / "single")
    args = ("prune", "--keep", "20m", "--json")
    on_cluster = run_main(capfd, *args, "--archive", str(dirs[0]), "--redis-url", both.cluster.url)
    on_single = run_main(capfd, *args, "--archive", str(dirs[1]), "--redis-url", both.single.url)
    assert on_cluster[0] == 0 and on_single[0] == 0, on_cluster[2]
    rows = [
        sorted((r["symbol"], r["agg_trade_id"]) for f in list_archive(d) for r in read_rows(f.path))
        for d in dirs
    ]
    assert rows[0] == rows[1]
    assert set(rows[0]) == _older(trades, KEEP_MS) and len(rows[0]) == len(set(rows[0]))
    kept = {(t.symbol, t.agg_id) for t in trades} - set(rows[0])
    assert {(s, int(a)) for s in SYMBOLS for a in _ids(both.rc, s)} == kept


def _ids(r: Any, symbol: str) -> list[int]:
    return [int(orjson.loads(m)["agg_trade_id"]) for m in r.zrange(KS.trades_latest(symbol), 0, -1)]


def _keys_on_each_primary(cluster: ClusterOfServers, pattern: str) -> dict[int, int]:
    out = {}
    for server in cluster.primaries():
        with server.client() as c:
            out[server.port] = sum(1 for _ in c.scan_iter(match=pattern))
    return out


def test_reset_deletes_the_namespace_on_every_primary_and_nothing_else(
    both: Both, capfd: pytest.CaptureFixture[str]
) -> None:
    now = now_ms()
    for r in (both.rc, both.r1):
        fill(r, now, per_symbol=5, ks=DEMO)
        fill(r, now, per_symbol=5)
    demo = _keys_on_each_primary(both.cluster, "demo:*")
    assert all(demo.values()), demo  # on every primary
    args = ("reset", "--namespace", "demo", "--yes", "--json")
    (rc, out, err), (_, out1, _) = both.run(capfd, *args)
    assert rc == 0, err
    assert orjson.loads(out) == orjson.loads(out1)
    assert orjson.loads(out)["deleted"] == sum(demo.values())
    assert set(_keys_on_each_primary(both.cluster, "demo:*").values()) == {0}
    assert dump(both.rc) == dump(both.r1) and both.rc.scard(KS.symbols()) == len(SYMBOLS)


def test_reset_refuses_while_an_ingester_reports_on_any_primary(
    redis_cluster_shared: ClusterOfServers, capfd: pytest.CaptureFixture[str]
) -> None:
    url = redis_cluster_shared.url
    r = connect(url)
    fill(r, now_ms(), per_symbol=5, ks=DEMO)
    for ingester in INGESTERS:
        r.set(DEMO.health(ingester), b"{}", ex=60)
        rc, _, err = run_main(capfd, "reset", "--namespace", "demo", "--yes", "--redis-url", url)
        assert rc == 2 and "in use by 1 other running ingester" in err, err
        r.delete(DEMO.health(ingester))
    assert r.scard(DEMO.symbols()) == len(SYMBOLS)
    r.close()
