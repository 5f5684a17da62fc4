"""`orders stats` against a private redis-server (unix socket in tmp_path)."""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis

from orders_cli.models import Trade
from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import current_fields, encode_bar
from orders_cli.stats.fixed import bars_for_batch
from orders_cli.store.keys import Keyspace
from orders_cli.timeframes import TIMEFRAMES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH")
    d: Path = tmp_path_factory.mktemp("redis")
    sock = d / "r.sock"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():  # readiness poll with a deadline, not a sleep for luck
            assert time.monotonic() < deadline, "redis-server did not start"
            assert proc.poll() is None, "redis-server exited"
            time.sleep(0.01)
        url = f"unix://{sock}"
        _populate(redis.Redis.from_url(url))
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _trades() -> list[Trade]:
    base = 1_700_000_000_000
    return [
        Trade("BTCUSDT", 100 + i, f"{30000 + (i * 7) % 50}.5", "0.01000000", 500 + i, 500 + i,
              base + i * 20_000, i % 3 == 0, base + i * 20_000 + 5)
        for i in range(90)
    ]  # fmt: skip


def _populate(r: redis.Redis) -> None:
    ks = Keyspace()
    bars = bars_for_batch(_trades())
    for tf in TIMEFRAMES:
        r.zadd(ks.bars("BTCUSDT", tf), {encode_bar(b): ws for ws, b in bars[tf].items()})
    newest = bars["100ms"][max(bars["100ms"])]
    r.hset(ks.stats_current("BTCUSDT"), mapping=current_fields(newest))  # type: ignore[arg-type]  # redis-py stub
    r.sadd(ks.symbols(), "BTCUSDT", "ETHUSDT")


def _orders(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orders_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_into_a_pipe_stats_is_one_json_document_counts_as_numbers_money_as_strings(
    redis_url: str,
) -> None:
    out = _orders("stats", "btcusdt", "--tf", "1m", "--last", "5", "--redis-url", redis_url)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 1  # one document, no table
    doc = orjson.loads(out.stdout)
    bars = bars_for_batch(_trades())["1m"]
    want = sorted(bars)[-5:]
    assert doc["symbol"] == "BTCUSDT" and doc["tf"] == "1m"
    assert [b["window_start"] for b in doc["bars"]] == want
    stored = orjson.loads(encode_bar(bars[want[-1]]))
    assert doc["bars"][-1] == stored  # the stored member, as stored
    current = doc["current"]
    # counts, ids and ms are numbers in the bars and in the current window alike
    for field in ("trades_count", "last_agg_id", "window_start", "last_update_time"):
        assert isinstance(current[field], int), field
        assert isinstance(doc["bars"][-1][field], int), field
    assert current["last_agg_id"] == 189
    # money is a decimal string, never a float
    for field in ("close_price", "volume", "quote_volume"):
        assert isinstance(current[field], str), field
        Decimal(current[field])
    assert isinstance(doc["bars"][-1]["close"], str)


def test_json_is_the_same_document_with_json_or_o_json(redis_url: str) -> None:
    a = _orders("stats", "BTCUSDT", "--json", "--redis-url", redis_url)
    b = _orders("stats", "BTCUSDT", "-o", "json", "--redis-url", redis_url)
    assert a.returncode == b.returncode == 0
    assert orjson.loads(a.stdout) == orjson.loads(b.stdout)


def test_table_and_chart_render(redis_url: str) -> None:
    out = _orders(
        "stats", "BTCUSDT", "--tf", "5m", "--chart", "-o", "table", "--redis-url", redis_url
    )
    assert out.returncode == 0, out.stderr
    assert "BTCUSDT" in out.stdout and "current 100 ms window" in out.stdout
    assert "█" in out.stdout  # the chart drew candles


def test_unknown_symbol_suggests_close_matches_exit_2(redis_url: str) -> None:
    out = _orders("stats", "BTCUSD", "--redis-url", redis_url)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "BTCUSDT" in out.stderr and "Traceback" not in out.stderr


def test_bad_timeframe_is_usage_error(redis_url: str) -> None:
    out = _orders("stats", "BTCUSDT", "--tf", "2m", "--redis-url", redis_url)
    assert out.returncode == 2 and "2m" in out.stderr


def _bar(i: int) -> Bar:
    p = Decimal(100 + i % 7)
    return Bar(i * 60_000, p, p + 1, p - 1, p, Decimal(1), p, 1, 1, i, i, i, i, 0,
               Decimal(0), Decimal(0), i * 60_000)  # fmt: skip


def test_chart_says_when_it_shows_fewer_bars_than_asked() -> None:
    from rich.console import Console

    from orders_cli.cli.render_stats import chart

    def text(width: int) -> str:
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(chart("BTCUSDT", "1m", [_bar(i) for i in range(100)], width=width))
        return console.export_text()

    assert "the newest" in text(40) and "of 100 bars" in text(40)
    assert "the newest" not in text(200)


async def test_on_a_terminal_stats_prints_tables_not_json(redis_url: str) -> None:
    import trio

    from tests.ops.test_tail_cli import Tty

    tty = Tty("stats", "BTCUSDT", "--redis-url", redis_url)
    with trio.fail_after(30):
        rc, err = await tty.rest()
    assert rc == 0, err
    text = "\n".join(tty.lines())
    assert "1m bars" in text and "current 100 ms window" in text
    assert not text.lstrip().startswith("{")


def test_chart_into_a_closed_pipe_exits_0_quietly(redis_url: str) -> None:
    from tests.test_shared_options import _orders_into_a_closed_pipe

    done = _orders_into_a_closed_pipe(
        "stats", "BTCUSDT", "--chart", "-o", "table", "--redis-url", redis_url
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr


def _watch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orders_cli", "stats", "BTCUSDT", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_watch_off_a_terminal_prints_one_json_document_per_interval(redis_url: str) -> None:
    proc = _watch("--watch", "100ms", "--redis-url", redis_url)
    try:
        assert proc.stdout is not None
        docs = [orjson.loads(proc.stdout.readline()) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert all(d["symbol"] == "BTCUSDT" and d["bars"] for d in docs)


def test_watch_without_an_interval_refreshes_every_2s_and_rejects_a_bad_one(
    redis_url: str,
) -> None:
    proc = _watch("--watch", "--redis-url", redis_url)  # no INTERVAL: the default
    try:
        assert proc.stdout is not None
        assert orjson.loads(proc.stdout.readline())["symbol"] == "BTCUSDT"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    bad = _orders("stats", "BTCUSDT", "--watch", "0", "--redis-url", redis_url)
    assert bad.returncode == 2 and "--watch" in bad.stderr


async def test_watch_on_a_terminal_redraws_the_tables(redis_url: str) -> None:
    import trio

    from tests.ops.test_tail_cli import Tty

    tty = Tty("stats", "BTCUSDT", "--watch", "100ms", "--redis-url", redis_url)
    with trio.fail_after(30):
        await tty.until(rb"current 100 ms window")
        tty.proc.send_signal(signal.SIGINT)
        rc, err = await tty.rest()
    assert rc == 0, err
