"""Where and how the commands print: the one output rule, and the console of the tables.

The rule (README "Output"): on a terminal, tables for people; anywhere else (a pipe, a
file) machine output — JSON lines for streams (``tail``, ``verify``), one JSON document
per report (``stats``, ``prune``, ``status``, ``sim``'s banner). ``-o json|table``
overrides it on every command; ``--json`` is ``-o json``. In every JSON document counts,
ids and epoch-ms times are JSON numbers and prices/quantities are decimal strings (never
floats: a float would round them).
"""

from __future__ import annotations

import logging
import os
import select
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import attrs
import orjson
from rich.console import Console, RenderableType

from orders_cli.errors import UsageError

PIPE_WIDTH = 160  # piped output: wide enough for every table of ours
OUTPUTS = ("json", "table")


def decide_json(choice: str | None, json_flag: bool, stream: TextIO | None = None) -> bool:
    """True for JSON: ``-o`` (or ``--json``) if given, else whether ``stream`` (stdout) is
    not a terminal."""
    if json_flag and choice == "table":
        raise UsageError("-o table and --json contradict each other: give one")
    if json_flag or choice == "json":
        return True
    if choice == "table":
        return False
    return not (stream or sys.stdout).isatty()


@attrs.frozen
class Output:
    """What the shared options decided for one command (``orders_cli.cli.options.shared``):
    JSON or tables on stdout; ``quiet`` (only warnings and errors on stderr: no hints,
    notes or info logs) or ``verbose`` (debug logs)."""

    json: bool
    forced: bool = False  # -o or --json given (not the rule's default)
    quiet: bool = False
    verbose: bool = False

    @property
    def log_level(self) -> int:
        return logging.DEBUG if self.verbose else logging.WARNING if self.quiet else logging.INFO

    def note(self, text: str) -> None:
        """An informational line on stderr (a hint, a banner), unless ``--quiet``."""
        if not self.quiet:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


def write_json(docs: Iterable[Any]) -> None:
    """Each document as one JSON line on stdout, flushed (a reader sees it at once)."""
    out = sys.stdout.buffer
    out.write(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    out.flush()


class StdoutWatch:
    """Tells, at the end of a command, whether its stdout was a pipe whose reader went
    away (``orders … | head``)."""

    def __init__(self) -> None:
        self.was_devnull = _is_devnull()

    def closed(self) -> bool:
        """The write end of a pipe with no reader reports an error to poll; and rich,
        meeting EPIPE, points stdout at /dev/null and exits 1 (Console.on_broken_pipe)."""
        if not self.was_devnull and _is_devnull():
            return True
        poller = select.poll()
        poller.register(1, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))


def _is_devnull() -> bool:
    try:
        return os.path.samestat(os.fstat(1), os.stat(os.devnull))
    except OSError:  # no fd 1 at all
        return False


def stdout_gone() -> None:
    """The reader went away (``| head``): send what is still buffered nowhere, so the exit
    does not complain about the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class Screen:
    """Where a report goes: one JSON line per :meth:`show`, or the table printed — with
    ``redraw`` (``--watch``) on a terminal, redrawn in place instead."""

    def __init__(self, as_json: bool, redraw: bool) -> None:
        self.as_json = as_json
        self.live: Any = None
        if not as_json and redraw and sys.stdout.isatty():
            from rich.live import Live

            self.live = Live(console=out_console(), auto_refresh=False)
            self.live.start()

    def show(self, doc: Callable[[], Any], view: Callable[[], RenderableType]) -> None:
        if self.as_json:
            write_json([doc()])
        elif self.live is not None:
            self.live.update(view(), refresh=True)
        else:
            out_console().print(view())

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def every(interval_s: float | None, step: Callable[[], None]) -> None:
    """``step()`` once, or (``--watch INTERVAL``) every ``interval_s`` until Ctrl-C."""
    try:
        step()
        while interval_s is not None:
            time.sleep(interval_s)
            step()
    except KeyboardInterrupt:
        return


def out_console() -> Console:
    """stdout's console: a terminal's own width; piped into a file, ``less`` or ``grep``,
    rich would assume 80 columns and squash the tables (a ``COLUMNS`` variable still wins)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPE_WIDTH)
