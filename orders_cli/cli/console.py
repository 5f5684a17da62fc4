"""The console the report commands print their tables to."""

from __future__ import annotations

import os
import sys

from rich.console import Console

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
