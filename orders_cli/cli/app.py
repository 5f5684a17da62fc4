"""The typer application: the only place that calls ``trio.run`` (via the command
modules). Core code never imports typer or rich.

Each command lives in its own module with a ``register(app)`` function.
"""

from __future__ import annotations

import sys

import click
import typer

from orders_cli import __version__
from orders_cli.cli import (
    cmd_prune,
    cmd_reset,
    cmd_run,
    cmd_sim,
    cmd_stats,
    cmd_status,
    cmd_tail,
    cmd_verify,
)
from orders_cli.cli.console import StdoutWatch, stdout_gone
from orders_cli.errors import OrdersError
from orders_cli.hints import command

app = typer.Typer(
    name="orders",
    help=(
        "Stream every Binance aggregate trade into Redis, keep 24 h of trades and "
        "statistics, and prove that no trade is missing.\n\n"
        "Example: orders run --simulate"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"orders {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """orders: every Binance aggregate trade, in Redis, provably complete."""


for _module in (
    cmd_run,
    cmd_tail,
    cmd_stats,
    cmd_prune,
    cmd_verify,
    cmd_status,
    cmd_reset,
    cmd_sim,
):
    _module.register(app)


def _help_for(exc: click.UsageError) -> str:
    """The --help that explains the option at fault: the subcommand's when there is one."""
    path = exc.ctx.command_path.split(" ", 1) if exc.ctx is not None else []
    sub = f"{path[1]} " if len(path) > 1 else ""
    return command(f"{sub}--help")


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Usage errors are one line on stderr and exit 2."""
    command = typer.main.get_command(app)
    stdout = StdoutWatch()
    try:
        rc = command.main(args=argv, prog_name="orders", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if exc.code == 1 and stdout.closed():
            # click or rich met EPIPE (``orders … | head``: the reader is gone) and exit 1
            # for it; the reader had all it wanted: 0, as documented (README "Output")
            stdout_gone()
            sys.exit(0)
        raise
    except click.UsageError as exc:
        sys.stderr.write(f"orders: error: {exc.format_message()} (see: {_help_for(exc)})\n")
        sys.exit(2)
    except click.ClickException as exc:
        sys.stderr.write(f"orders: error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    except OrdersError as exc:
        sys.stderr.write(f"orders: error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
