"""The options every command shares, defined once: ``-o/--output json|table``, ``--json``,
``-q/--quiet``, ``-v/--verbose`` (:func:`shared`, which hands the command an
:class:`~orders_cli.cli.console.Output`), and ``--watch [INTERVAL]`` (:func:`watch_option`
with :class:`WatchCommand`)::

    @shared("what -o json writes")
    def cmd(redis_url: str | None = redis_url_option(), *, out: Output): ...
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import click
import typer
from typer.core import TyperCommand

from orders_cli.cli.console import OUTPUTS, Output, decide_json, tame_libraries
from orders_cli.cli.options import validate_duration
from orders_cli.durations import parse_duration
from orders_cli.errors import UsageError


def validate_output(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    choice = value.strip().lower()
    if choice not in OUTPUTS:
        raise click.BadParameter(f"unknown output {value!r}; expected json or table")
    return choice


def shared(json_shape: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options every command shares, defined once here: ``-o/--output
    json|table``, ``--json`` (= ``-o json``), ``-q/--quiet`` and ``-v/--verbose``. The
    command takes ``out: Output`` (the decision, :func:`orders_cli.cli.console.decide_json`)
    instead of the raw options. ``json_shape`` says what the JSON is, for ``--help``."""

    def add(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        own = [p for p in sig.parameters.values() if p.name != "out"]
        kind = inspect.Parameter.KEYWORD_ONLY
        options = [
            inspect.Parameter(
                "output",
                kind,
                annotation=str | None,
                default=typer.Option(
                    None,
                    "--output",
                    "-o",
                    envvar="ORDERS_OUTPUT",
                    callback=validate_output,
                    metavar="json|table",
                    show_default=False,
                    help=f"table (for people) or json ({json_shape}). Default: table on a "
                    "terminal, json into a pipe or a file.",
                ),
            ),
            inspect.Parameter(
                "as_json",
                kind,
                annotation=bool,
                default=typer.Option(False, "--json", envvar="ORDERS_JSON", help="= -o json."),
            ),
            inspect.Parameter(
                "quiet",
                kind,
                annotation=bool,
                default=typer.Option(
                    False, "--quiet", "-q", help="Only warnings and errors on stderr."
                ),
            ),
            inspect.Parameter(
                "verbose",
                kind,
                annotation=bool,
                default=typer.Option(False, "--verbose", "-v", help="Debug logs on stderr."),
            ),
        ]

        @functools.wraps(func)
        def command(
            *args: Any, output: str | None, as_json: bool, quiet: bool, verbose: bool, **kw: Any
        ) -> Any:
            if quiet and verbose:
                raise click.UsageError("-q/--quiet and -v/--verbose contradict: give one")
            try:
                json_out = decide_json(output, as_json)
            except UsageError as exc:
                raise click.UsageError(str(exc)) from None
            out = Output(
                json=json_out,
                forced=output is not None or as_json,
                quiet=quiet,
                verbose=verbose,
            )
            # the log of the report commands (run sets up its own: the panel, JSON)
            logging.basicConfig(level=out.log_level, format="orders: %(levelname)s: %(message)s")
            logging.getLogger().setLevel(out.log_level)
            tame_libraries(verbose)
            return func(*args, out=out, **kw)

        hints = {k: v for k, v in func.__annotations__.items() if k != "out"}
        command.__annotations__ = {**hints, **{p.name: p.annotation for p in options}}
        command.__signature__ = sig.replace(parameters=[*own, *options])  # type: ignore[attr-defined]  # read by inspect.signature (typer)
        return command

    return add


def validate_interval(value: str | None) -> str | None:
    """A ``--watch`` interval: a duration above 0."""
    if value is None:
        return None
    checked = validate_duration(value)
    if not parse_duration(value) > 0:
        raise click.BadParameter(f"{value!r}: the interval must be longer than 0")
    return checked


WATCH_EVERY = "2s"


def watch_option(what: str) -> Any:
    """``--watch [INTERVAL]``: refresh every INTERVAL (default 2s) until Ctrl-C; needs a
    command made with ``cls=WatchCommand`` so the INTERVAL may be left out."""
    return typer.Option(
        None,
        "--watch",
        callback=validate_interval,
        metavar="[INTERVAL]",
        show_default=False,
        help=f"Refresh {what} every INTERVAL (default {WATCH_EVERY}) until Ctrl-C: redrawn "
        "on a terminal, one JSON document per refresh elsewhere.",
    )


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except UsageError:
        return False
    return True


class WatchCommand(TyperCommand):
    """A command whose ``--watch`` may come without its INTERVAL (``--watch`` alone is
    ``--watch 2s``): the next word is the interval only if it reads as a duration.
    (Click can do this itself, but typer does not pass ``flag_value`` on.)"""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        filled: list[str] = []
        for i, arg in enumerate(args):
            filled.append(arg)
            if arg == "--":
                filled.extend(args[i + 1 :])
                break
            if arg == "--watch" and (i + 1 == len(args) or not _is_duration(args[i + 1])):
                filled.append(WATCH_EVERY)
        return super().parse_args(ctx, filled)


# --- option factories --------------------------------------------------------------------
