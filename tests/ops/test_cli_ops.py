"""`orders tail`, `orders prune`, `orders status` as a user runs them (subprocess, real
redis-server)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest
import redis
import trio

from orders_cli.health import snapshot
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import encode_member
from orders_cli.store.prune_lock import PruneLock
from orders_cli.telemetry import Telemetry
from tests.ops.helpers import DAY_MS, store, stream_add, trade

KS = Keyspace()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("ORDERS_"):
            del env[k]
    return env


def _main(capfd: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    """Run ``orders`` in-process (fast: no interpreter start); returns (rc, stdout, stderr)."""
    from orders_cli.cli.app import main

    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        main([*args, "--redis-url", url])
    sys.stdout.flush()
    out, err = capfd.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def server(redis_shared: Any) -> Any:
    return redis_shared


async def test_tail_follows_trades_written_while_it_runs(server: Any) -> None:
    r: redis.Redis = server.client()
    now = int(time.time() * 1000)
    past = [trade("BTCUSDT", 1, now - 60_000), trade("ETHUSDT", 1, now - 30_000)]
    store(r, KS, past)
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "orders_cli", "tail", "BTCUSDT", "ethusdt", "--since", "5m",
         "--count", "6", "--json", "--redis-url", server.url],
        stdout=subprocess.PIPE,
        env=_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    buf = b""
    live = [trade("BTCUSDT", 2 + i, now + i) for i in range(4)]
    with trio.fail_after(30):
        while buf.count(b"\n") < 2:  # the past two: tail is running and caught up
            buf += await proc.stdout.receive_some()
        for t in live:  # written while it runs
            r.zadd(KS.trades_latest(t.symbol), {encode_member(t): t.trade_time})
            stream_add(r, KS, t)
        while chunk := await proc.stdout.receive_some():
            buf += chunk
        assert await proc.wait() == 0
    lines = buf.splitlines()
    assert lines[:2] == [encode_member(t) for t in past]
    assert lines[2:] == [encode_member(t) for t in live]


def test_tail_unknown_symbol_lists_close_matches(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    store(server.client(), KS, [trade("BTCUSDT", 1, 1_000), trade("BTCUSDC", 1, 1_000)])
    rc, _, err = _main(capfd, server.url, "tail", "BTCUSTD", "--count", "1")
    assert rc == 2
    assert "BTCUSDT" in err and "did you mean" in err
    assert err.strip().count("\n") == 0


def test_tail_stats_json(server: Any, capfd: pytest.CaptureFixture[str]) -> None:
    r = server.client()
    store(r, KS, [trade("BTCUSDT", 1, 1_000)])
    r.hset(KS.stats_current("BTCUSDT"), mapping={"volume": "1.50000000", "trades_count": "3"})
    r.zadd(KS.bars("BTCUSDT", "1m"), {b'{"window_start":0,"close":"2.0"}': 0})
    rc, out, err = _main(capfd, server.url, "tail", "BTCUSDT", "--stats", "--count", "1", "--json")
    assert rc == 0, err
    view = orjson.loads(out)
    assert view["current"]["volume"] == "1.50000000"
    assert view["current"]["trades_count"] == 3  # a count is a JSON number
    assert view["bar_1m"]["close"] == "2.0"
    assert "no `orders run` is reporting" in err  # nothing publishes health here


def test_prune_cli_json_and_lock(server: Any, capfd: pytest.CaptureFixture[str]) -> None:
    r = server.client()
    now = int(time.time() * 1000)
    store(r, KS, [trade("BTCUSDT", 1, now - 2 * DAY_MS), trade("BTCUSDT", 2, now)])
    rc, out, _ = _main(capfd, server.url, "prune", "--dry-run", "--json")
    assert rc == 0
    assert orjson.loads(out)["totals"]["trades"] == 1
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 2
    with PruneLock(r, KS.prune_lock()):
        rc, out, err = _main(capfd, server.url, "prune", "--json")
    assert rc == 75
    assert "another prune" in err
    rc, out, err = _main(capfd, server.url, "prune", "--keep", "24h", "--json")
    assert rc == 0, err
    assert orjson.loads(out)["totals"]["trades"] == 1
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 1


def test_prune_trims_the_stream_at_stream_retention_and_keeps_the_trades(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = server.client()
    now = int(time.time() * 1000)
    store(r, KS, [trade("BTCUSDT", a, now - (5 - a) * 20 * 60_000) for a in range(1, 6)])
    rc, out, err = _main(capfd, server.url, "prune", "--stream-retention", "30m", "--json")
    assert rc == 0, err
    assert orjson.loads(out)["totals"] | {"trades": 0, "stream": 3} == orjson.loads(out)["totals"]
    assert r.zcard(KS.trades_latest("BTCUSDT")) == 5
    assert [int(f[b"a"]) for _, f in r.xrange(KS.trades_stream("BTCUSDT"))] == [4, 5]


def test_quiet_drops_the_hints_but_not_the_output(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    store(server.client(), KS, [trade("BTCUSDT", 1, 1_000)])
    args = ("tail", "BTCUSDT", "--stats", "--count", "1")
    rc, out, err = _main(capfd, server.url, *args, "-q")
    assert rc == 0 and orjson.loads(out)["symbol"] == "BTCUSDT"
    assert err == ""  # no "no `orders run` is reporting" hint
    assert "no `orders run` is reporting" in _main(capfd, server.url, *args)[2]


def test_prune_and_status_into_a_pipe_print_one_json_document_and_o_table_a_table(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time() * 1000)
    store(server.client(), KS, [trade("BTCUSDT", 1, now - 2 * DAY_MS)])
    for command in (["prune", "--dry-run"], ["status"]):
        _rc, out, err = _main(capfd, server.url, *command)  # stdout: a pipe
        assert len(out.splitlines()) == 1, (command, out, err)
        assert isinstance(orjson.loads(out), dict), command
        _rc, out, err = _main(capfd, server.url, *command, "-o", "table")
        assert out.lstrip().startswith("orders "), (command, out)  # the human view, not JSON
    _rc, out, _ = _main(capfd, server.url, "prune", "--dry-run")
    assert orjson.loads(out)["totals"]["trades"] == 1  # counts are numbers


def test_prune_bad_keep_is_usage_error(server: Any, capfd: pytest.CaptureFixture[str]) -> None:
    assert _main(capfd, server.url, "prune", "--keep", "soon")[0] == 2


def _publish(r: redis.Redis, tel: Telemetry, ingester: str = "host-1") -> None:
    r.set(KS.health(ingester), orjson.dumps(snapshot(tel, ingester)), ex=10)


def test_status_exit_codes(server: Any, capfd: pytest.CaptureFixture[str]) -> None:
    r = server.client()
    rc, out, _ = _main(capfd, server.url, "status", "--json")
    assert rc == 1
    assert "no live ingester" in orjson.loads(out)["problems"][0]

    tel = Telemetry()
    tel.connection("spot#0").set("live")
    tel.redis_state = "ok"  # "unknown" (no write confirmed yet) is not healthy
    _publish(r, tel)
    rc, out, _ = _main(capfd, server.url, "status", "--json")
    assert rc == 0, out
    assert orjson.loads(out)["ingesters"][0]["ingester_id"] == "host-1"
    rc, out, _ = _main(capfd, server.url, "status", "-o", "table")
    assert rc == 0 and "HEALTHY" in out

    tel.open_gaps = 1
    tel.oldest_open_gap_ms = int(time.time() * 1000) - 15 * 60_000
    tel.oldest_open_gap_mono = time.monotonic() - 15 * 60
    _publish(r, tel)
    rc, out, _ = _main(capfd, server.url, "status", "--json", "--max-gap-age", "10m")
    assert rc == 1
    assert "open gap" in orjson.loads(out)["problems"][0]
    assert _main(capfd, server.url, "status", "--max-gap-age", "1h")[0] == 0


def test_status_table_shows_symbols_stored_trades_and_the_backfill_queue(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = server.client()
    now = int(time.time() * 1000)
    store(r, KS, [trade("BTCUSDT", 1, now), trade("BTCUSDT", 2, now), trade("ETHUSDT", 1, now)])
    tel = Telemetry()
    tel.redis_state = "ok"  # "unknown" (no write confirmed yet) is not healthy
    tel.connection("spot#0").set("live")
    tel.symbols_subscribed, tel.symbols_listed = 303, 318
    tel.backfill_queue = 12
    tel.counters["trades_stored"] = 82_916
    _publish(r, tel)
    rc, out, err = _main(capfd, server.url, "status", "-o", "table")
    assert rc == 0, err
    assert "303 subscribed of 318 listed" in out
    assert "82,916 this run" in out
    assert "12 requests queued" in out
    assert "3 trades of 2 symbols" in out  # what the store holds
    rc, out, err = _main(capfd, server.url, "status", "-o", "json")
    assert orjson.loads(out)["store"] == {"symbols": 2, "trades": 3}


def _valid_record() -> dict[str, Any]:
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    return snapshot(tel, "bad")


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"foreign": true}', "version"),
        (orjson.dumps({**_valid_record(), "version": 2}), "version 2"),
        (orjson.dumps({**_valid_record(), "heartbeat_ms": "soon"}), "heartbeat_ms"),
        (orjson.dumps({**_valid_record(), "connections": [{"shard": "spot#0"}]}), "state"),
        (orjson.dumps({**_valid_record(), "gaps": "none"}), "gaps"),
    ],
)
def test_status_names_a_malformed_health_record_in_one_line_and_exits_1(
    server: Any, capfd: pytest.CaptureFixture[str], raw: bytes, what: str
) -> None:
    server.client().set(KS.health("bad"), raw, ex=10)
    rc, out, err = _main(capfd, server.url, "status", "--json")
    assert rc == 1
    assert out == ""
    assert err.startswith(f"orders: error: health record of {KS.health('bad')} is malformed: ")
    assert what in err
    assert err.count("\n") == 1, err


def test_status_redis_unavailable_exits_3(capfd: pytest.CaptureFixture[str]) -> None:
    assert _main(capfd, "redis://127.0.0.1:1/0", "status")[0] == 3
