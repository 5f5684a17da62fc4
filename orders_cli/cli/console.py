"""Where and how the commands print: the one output rule, and the console of the tables.

The rule (README "Output"): on a terminal, tables for people; anywhere else (a pipe, a
file) machine output — JSON lines for streams (``tail``, ``verify``), one JSON document
per report (``stats``, ``prune``, ``status``, ``sim``'s banner). ``-o json|table``
overrides it on every command; ``--json`` is ``-o json``. In every JSON document counts,
ids and epoch-ms times are JSON numbers and prices/quantities are decimal strings (never
floats: a float would round them). Also the log handlers of `orders run` (every log
line stamped in one UTC form: 2026-12-04T15:27:30Z).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import termios
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import attrs
import orjson
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

from orders_cli.errors import UsageError

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

CHATTY_LIBRARIES = ("httpx", "httpcore", "trio-websocket")
"""Libraries that log every request at INFO: their lines are ours to hide, unless -v."""


def tame_libraries(verbose: bool = False) -> None:
    """The libraries' per-request INFO lines off (kept with ``-v``: DEBUG for all)."""
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


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
    """What the shared options decided for one command (``orders_cli.cli.shared_options.shared``):
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


@attrs.frozen
class Fit:
    """The first of ``layouts`` whose natural width fits the console (the last one
    otherwise): a wide table on a wide terminal, a narrower one at 80 columns, instead of
    rich squeezing every column into ``…``."""

    layouts: tuple[RenderableType, ...]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update_width(1_000_000)  # Measurement.get clamps to the width
        for layout in self.layouts[:-1]:
            if Measurement.get(console, unbounded, layout).maximum <= options.max_width:
                yield layout
                return
        yield self.layouts[-1]


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


def on_terminal() -> bool:
    """Whether a question can be asked: a person at stdin and at stderr (the prompt)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


@contextlib.contextmanager
def no_control_echo(stream: TextIO) -> Iterator[None]:
    """While the live panel is drawn on the terminal ``stream``: keys like Ctrl-C are not
    echoed as ``^C``. The echo lands after the panel's last line, at its right edge, so
    the cursor wraps to the next line; the next redraw then starts one line low and
    leaves the old top border behind (a torn panel). The terminal is restored on exit."""
    try:
        fd = stream.fileno()
        old = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):  # not a terminal (or gone): no change
        fd, old = -1, None
    if old is not None:
        quiet = list(old)
        quiet[3] &= ~termios.ECHOCTL
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        if old is not None:
            with contextlib.suppress(termios.error, OSError):  # a terminal gone meanwhile
                termios.tcsetattr(fd, termios.TCSANOW, old)


def utc_stamp(epoch_s: float) -> str:
    """``epoch_s`` as the logs write it: 2026-12-04T15:27:30Z."""
    return time.strftime(UTC_FORMAT, time.gmtime(epoch_s))


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_stamp(record.created)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's ``fields`` (``extra={"fields": {...}}``, the
    summaries) are merged in, so machines read figures, not a message to parse. ``ts``
    (epoch seconds) goes with ``time``, the same instant in UTC."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": utc_stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        return orjson.dumps(out).decode()


def _rich_time(local: datetime) -> Text:
    """RichHandler passes a naive local time: the same instant in UTC."""
    return Text(local.astimezone(UTC).strftime(UTC_FORMAT))


def log_handler(json_logs: bool, tty: bool, console: Console | None) -> logging.Handler:
    """JSON lines, the rich handler on ``console`` (the one the live panel draws on: log
    lines through any other tear the panel), or plain lines on stderr."""
    handler: logging.Handler
    if json_logs:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
    elif tty:
        from rich.logging import RichHandler

        handler = RichHandler(
            console=console,
            show_path=False,
            rich_tracebacks=False,
            log_time_format=_rich_time,
            omit_repeated_times=False,
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler
