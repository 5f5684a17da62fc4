"""The console the report commands print their tables to, and the log handlers of
`orders run` (every log line stamped in one UTC form: 2026-12-04T15:27:30Z)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import termios
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.text import Text

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

PIPE_WIDTH = 160  # piped output: wide enough for every table of ours


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
