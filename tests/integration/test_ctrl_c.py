"""Ctrl-C on `orders run`, as an operator presses it: on a terminal (a pseudo-terminal
that is the run's controlling terminal, so the line discipline itself turns the key into
SIGINT and echoes it) the panel is not torn by a `^C` echo, the first Ctrl-C says that a
second one stops at once, the second says what it skipped, and the run ends with one
human sentence (through a pipe: one logfmt line, tests/integration/test_signals.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import termios
from collections.abc import Callable
from typing import Any

import pytest
import trio

from orders_cli.sim import SimConfig, Simulator
from tests.integration.cliproc import (
    ROOT,
    cli_env,
    orders_argv,
    stored_count,
)
from tests.integration.replay_server import wait_for
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
HUMAN_END = re.compile(  # tests/integration/test_signals.py: never through a pipe
    r"stopped after \w+: [\d,]+ trades stored, [\d,]+ duplicates? dropped, "
    r"[\d,]+ ids in open gaps"
)


def _argv(redis_url: str, sim: Simulator, *extra: str) -> list[str]:
    return orders_argv(
        "run", "--redis-url", redis_url, "--ws-url", sim.ws_url, "--rest-url", sim.rest_url,
        *extra,
    )  # fmt: skip


def _controlling_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is its stdin."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """An 80x24 pseudo-terminal; ``text()`` is what the run wrote to it, ANSI removed."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.out = bytearray()

    def text(self) -> str:
        return ANSI.sub(b"", bytes(self.out)).decode(errors="replace")

    async def read(self) -> None:
        stream = trio.lowlevel.FdStream(os.dup(self.master))
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            while chunk := await stream.receive_some(65536):
                self.out += chunk

    def press(self, key: bytes) -> None:
        os.write(self.master, key)

    def echoes_control_keys(self) -> bool:
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHOCTL)


async def _on_terminal(
    redis_server: RedisServer, keys: Callable[[Terminal, Any], Any]
) -> tuple[int, Terminal]:
    sim = Simulator(SimConfig.from_fixture(n_symbols=30, seed=5, total_rate=1500.0))
    r = redis_server.client()
    term = Terminal()
    assert term.echoes_control_keys()  # a terminal's default: ^C is echoed
    env = cli_env()
    env["TERM"] = "xterm-256color"
    with trio.fail_after(90):
        async with trio.open_nursery() as n:
            await n.start(sim.serve)
            symbols = list(sim.truth_by_symbol())
            proc = await trio.lowlevel.open_process(
                _argv(redis_server.url, sim),
                stdin=term.slave,
                stdout=term.slave,
                stderr=term.slave,
                cwd=ROOT,
                env=env,
                preexec_fn=_controlling_terminal,
            )
            n.start_soon(term.read)
            try:
                with trio.fail_after(30):
                    await wait_for(lambda: stored_count(r, symbols) > 1000, interval=0.1)
                    await wait_for(lambda: "history complete" in term.text())
                await keys(term, proc)
                with trio.fail_after(20):
                    rc = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                redis_server.resume()
            with trio.move_on_after(2):  # the last lines
                await wait_for(lambda: "stopped after" in term.text() or "skipped" in term.text())
            sim.stop_trading()
            n.cancel_scope.cancel()
    return rc, term


async def test_ctrl_c_on_a_terminal_ends_with_a_human_sentence_and_no_echo_tearing_the_panel(
    redis_server: RedisServer,
) -> None:
    async def ctrl_c(term: Terminal, _proc: Any) -> None:
        assert not term.echoes_control_keys()  # while the panel is drawn
        term.press(b"\x03")

    rc, term = await _on_terminal(redis_server, ctrl_c)
    text = term.text()
    assert rc == 0, text[-3000:]
    assert "^C" not in text  # the echo that moved the cursor under the panel's last line
    assert "Ctrl-C again stops at once" in text, text[-3000:]
    assert HUMAN_END.search(" ".join(text.split())), text[-3000:]
    assert "Traceback" not in text
    assert term.echoes_control_keys()  # the terminal is left as it was


async def test_a_second_ctrl_c_stops_at_once_and_says_what_it_skipped(
    redis_server: RedisServer,
) -> None:
    async def twice(term: Terminal, _proc: Any) -> None:
        redis_server.pause()  # the flush cannot finish: the second Ctrl-C has work to skip
        term.press(b"\x03")
        with trio.fail_after(10):
            await wait_for(lambda: "again stops at once" in term.text())
        term.press(b"\x03")

    rc, term = await _on_terminal(redis_server, twice)
    text = " ".join(term.text().split())
    assert rc == 0, text[-3000:]
    assert "second Ctrl-C: stopping now; skipped: writing" in text, text[-3000:]
    assert "deleting the health record" in text
