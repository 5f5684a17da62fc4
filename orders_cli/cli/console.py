"""Where and how the commands print: the one output rule, and the console of the tables.

The rule (README "Output"): on a terminal, tables for people; anywhere else (a pipe, a
file) machine output — JSON lines for streams (``tail``, ``verify``), one JSON document
per report (``stats``, ``prune``, ``status``, ``sim``'s banner). ``-o json|table``
overrides it on every command; ``--json`` is ``-o json``. In every JSON document counts,
ids and epoch-ms times are JSON numbers and prices/quantities are decimal strings (never
floats: a float would round them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import attrs
import orjson
from rich.console import Console

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
    JSON or tables on stdout; ``quiet`` (warnings and errors only on stderr) or
    ``verbose`` (debug logs)."""

    json: bool
    forced: bool = False  # -o or --json given (not the rule's default)
    quiet: bool = False
    verbose: bool = False

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


def out_console() -> Console:
    """stdout's console: a terminal's own width; piped into a file, ``less`` or ``grep``,
    rich would assume 80 columns and squash the tables (a ``COLUMNS`` variable still wins)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPE_WIDTH)
