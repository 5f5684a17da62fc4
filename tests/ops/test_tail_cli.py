"""`orders tail` as a user runs it: on a terminal (a pty) it appends one plain line per trade
and lets the terminal scroll; into a pipe it writes the stored members; `--no-follow`,
`-f`, Ctrl-C and a closed pipe."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from typing import Any

import pytest
import redis
import trio

from orders_cli.store.keys import Keyspace
from orders_cli.store.member import encode_member
from tests.ops.helpers import store, stream_add, trade
from tests.ops.test_cli_ops import _env, _main

KS = Keyspace()


@pytest.fixture
def server(redis_shared: Any) -> Any:
    return redis_shared


class Tty:
    """``orders ...`` with stdin/stdout on a fresh 100x30 pty, stderr on a pipe."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = _env()
        env.update(NO_COLOR="1", TERM="xterm")
        env.pop("COLUMNS", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orders_cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.stream = trio.lowlevel.FdStream(master)
        self.buf = b""

    async def until(self, pattern: bytes) -> None:
        while not re.search(pattern, self.buf):
            self.buf += await self.stream.receive_some()

    async def rest(self) -> tuple[int, str]:
        """Everything until the pty closes; (exit code, stderr)."""
        try:
            while chunk := await self.stream.receive_some():
                self.buf += chunk
        except (OSError, trio.BrokenResourceError) as exc:  # EIO: the child closed the pty
            cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
            if not isinstance(cause, OSError) or cause.errno != errno.EIO:
                raise
        rc = await trio.to_thread.run_sync(self.proc.wait)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read().decode()
        await self.stream.aclose()
        return rc, err

    def lines(self) -> list[str]:
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.buf.decode())  # bold: not a colour
        return text.replace("\r\n", "\n").splitlines()


def write(r: redis.Redis, symbol: str, agg_id: int, t_ms: int) -> None:
    t = trade(symbol, agg_id, t_ms)
    r.zadd(KS.trades_latest(t.symbol), {encode_member(t): t.trade_time})
    stream_add(r, KS, t)


async def test_on_a_terminal_each_trade_is_one_plain_line_appended_at_the_bottom(
    server: Any,
) -> None:
    r = server.client()
    now = int(time.time() * 1000)
    store(r, KS, [trade("BTCUSDT", 7, now - 60_000), trade("ETHUSDT", 41, now - 30_000)])
    tty = Tty("tail", "BTCUSDT", "ETHUSDT", "--since", "5m", "--count", "5",
              "--redis-url", server.url)  # fmt: skip
    with trio.fail_after(30):
        await tty.until(rb"ETHUSDT.*\n")  # the history is on screen: tail follows now
        write(r, "BTCUSDT", 8, now)
        write(r, "ETHUSDT", 42, now + 1)
        write(r, "BTCUSDT", 9, now + 2)
        rc, err = await tty.rest()
    assert rc == 0, err
    lines = tty.lines()
    assert lines[0].split() == ["time", "(UTC)", "symbol", "side", "price", "quantity", "agg", "id"]
    rows = [line.split() for line in lines[1:]]
    assert [(row[2], row[6]) for row in rows] == [
        ("BTCUSDT", "7"), ("ETHUSDT", "41"), ("BTCUSDT", "8"), ("ETHUSDT", "42"), ("BTCUSDT", "9")
    ]  # fmt: skip
    assert [row[3] for row in rows] == ["buy", "buy", "sell", "sell", "buy"]  # sell: m true
    assert rows[0][4] == "65000.01000000" and rows[0][5] == "0.00000007"  # as stored
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", rows[0][0]) and re.fullmatch(r"[\d:.]{12}", rows[0][1])
    assert (
        len({line.index(row[4]) + len(row[4]) for line, row in zip(lines[1:], rows, strict=True)})
        == 1
    )
    assert not re.search("[│┃─━┏┗]", tty.buf.decode())  # no table, no redraw


async def test_ctrl_c_on_a_terminal_exits_0_quietly(server: Any) -> None:
    store(server.client(), KS, [trade("BTCUSDT", 1, int(time.time() * 1000))])
    tty = Tty("tail", "BTCUSDT", "--redis-url", server.url)
    with trio.fail_after(30):
        await tty.until(rb"agg id")
        os.killpg(tty.proc.pid, signal.SIGINT)
        rc, err = await tty.rest()
    assert rc == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_no_follow_prints_the_history_in_order_and_exits_0(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time() * 1000)
    old = trade("BTCUSDT", 1, now - 3_600_000)
    past = [trade("BTCUSDT", 2, now - 60_000), trade("ETHUSDT", 5, now - 50_000),
            trade("BTCUSDT", 3, now - 40_000)]  # fmt: skip
    store(server.client(), KS, [old, *past])
    rc, out, err = _main(capfd, server.url, "tail", "BTCUSDT", "ETHUSDT", "--since", "5m",
                         "--no-follow")  # fmt: skip
    assert rc == 0, err
    assert out.encode().splitlines() == [encode_member(t) for t in past]


def test_follow_flag_is_accepted_and_no_follow_needs_a_since(
    server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time() * 1000)
    store(server.client(), KS, [trade("BTCUSDT", 1, now - 1_000), trade("BTCUSDT", 2, now)])
    rc, out, err = _main(capfd, server.url, "tail", "-f", "BTCUSDT", "--since", "1m", "-n", "2")
    assert rc == 0, err
    assert len(out.splitlines()) == 2
    rc, out, err = _main(capfd, server.url, "tail", "BTCUSDT", "--no-follow")
    assert rc == 2
    assert "--no-follow" in err and "--since" in err and err.count("\n") == 1


async def test_a_closed_pipe_ends_tail_quietly(server: Any) -> None:
    now = int(time.time() * 1000)
    store(server.client(), KS, [trade("BTCUSDT", a, now - 100_000 + a) for a in range(1, 5_001)])
    read_end, write_end = os.pipe()
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "orders_cli", "tail", "BTCUSDT", "--since", "5m",
         "--redis-url", server.url],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=_env(),
    )  # fmt: skip
    os.close(write_end)
    assert proc.stderr is not None
    stream = trio.lowlevel.FdStream(read_end)
    err = b""
    with trio.fail_after(30):
        first = await stream.receive_some(100)  # like `| head -c 100`
        await stream.aclose()
        while chunk := await proc.stderr.receive_some():
            err += chunk
        rc = await proc.wait()
    assert first.startswith(b'{"event_type":"aggTrade"')
    assert rc == 0
    notice = "orders tail: no `orders run` is reporting"  # the one line said before following
    assert [line for line in err.decode().splitlines() if not line.startswith(notice)] == []


def test_help_shows_examples_of_following(capfd: pytest.CaptureFixture[str]) -> None:
    from orders_cli.cli.app import main

    with pytest.raises(SystemExit):
        main(["tail", "--help"])
    out = capfd.readouterr().out
    for example in ("orders tail BTCUSDT", "--since 5m --no-follow", "| head"):
        assert example in out
