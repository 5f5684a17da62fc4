"""`orders tail`: follow trades like ``tail -f`` from ``trades:{S}:stream`` (several symbols
at once): the ``--since`` history first, then every trade as it is stored."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import trio
import typer

from orders_cli import clock
from orders_cli.cli.console import Output, stdout_gone, write_json
from orders_cli.cli.options import (
    duration_option,
    market_option,
    namespace_option,
    redis_url_option,
)
from orders_cli.cli.shared_options import shared
from orders_cli.durations import parse_duration_ms
from orders_cli.errors import RedisUnavailable, UsageError
from orders_cli.hints import command
from orders_cli.ops.conn import open_redis
from orders_cli.ops.status import any_health, ingesters_elsewhere
from orders_cli.ops.symbols import keyspace_for, resolve_symbols
from orders_cli.ops.tail import Follower, Tailed, stats_view
from orders_cli.redis_errors import LOST
from orders_cli.redis_types import RedisClient
from orders_cli.store.member import encode_member

BLOCK_MS = 1000
HISTORY_BATCH = 500  # trades per write while printing the history
_SYMBOLS = typer.Argument(..., metavar="SYMBOL...", help="Symbols to follow (e.g. BTCUSDT).")

_HELP = """Follow trades as they are stored, like `tail -f`: one line per trade, appended.

On a terminal: aligned columns (UTC time, symbol, side, price and quantity as stored, agg
id); the terminal scrolls and keeps them. Into a pipe, or with --json: one JSON line per
trade, exactly the stored member. Every trade once, per symbol in the order it was stored
(id order; a trade that filled a gap comes when it was filled and is marked late on a
terminal); several symbols interleaved by trade time. Ctrl-C, or a closed pipe, exits 0.
An unknown symbol exits 2 and names close matches.

Example: orders tail BTCUSDT  (from now on, until Ctrl-C)

Example: orders tail BTCUSDT ETHUSDT --since 5m  (the last 5 min, then follow)

Example: orders tail BTCUSDT --since 5m --no-follow > btc.jsonl

Example: orders tail BTCUSDT | head -n 100

Example: orders tail BTCUSDT --stats  (live: current window and 1m bar)
"""


class _Out:
    """JSON lines (the stored member) to stdout, plain aligned lines on a terminal, or the
    ``--stats`` view (a live table on a terminal, JSON lines otherwise)."""

    def __init__(self, as_json: bool, follower: Follower, show_stats: bool) -> None:
        self.as_json = as_json
        self.views: dict[str, dict[str, Any]] = {}
        self.console: Any = None
        self.lines: Any = None
        self.live: Any = None
        if as_json:
            return
        from orders_cli.cli.console import out_console

        self.console = out_console()
        if show_stats:
            from rich.live import Live

            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.start()
            return
        from orders_cli.cli.render_tail import TradeLines

        self.lines = TradeLines(list(follower.seams), follower.newest)
        self.console.print(self.lines.header(), soft_wrap=True, highlight=False)

    def trades(self, shown: Sequence[Tailed]) -> None:
        if not shown:
            return
        if self.as_json:
            sys.stdout.buffer.write(b"".join(encode_member(s.trade) + b"\n" for s in shown))
            sys.stdout.flush()
            return
        self.console.print(self.lines.lines(shown), soft_wrap=True, highlight=False)

    def stats(self, views: list[dict[str, Any]]) -> None:
        if self.as_json:
            write_json(views)
            return
        from orders_cli.cli.render_ops import stats_table

        self.views.update({v["symbol"]: v for v in views})
        self.live.update(stats_table(list(self.views.values())), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _batches(items: Iterator[Tailed], size: int) -> Iterator[list[Tailed]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _history(r: RedisClient, follower: Follower, out: _Out, count: int | None) -> int:
    """Print the window's stored history; the number of trades printed."""
    shown = 0
    for batch in _batches(follower.history(r), HISTORY_BATCH):
        batch = batch if count is None else batch[: count - shown]
        out.trades(batch)
        shown += len(batch)
        if shown == count:
            break
    return shown


async def _follow(r: RedisClient, follower: Follower, out: _Out, count: int | None) -> None:
    shown = 0
    while count is None or shown < count:
        batch = await trio.to_thread.run_sync(follower.read, r, BLOCK_MS, abandon_on_cancel=True)
        batch = batch if count is None else batch[: count - shown]
        out.trades(batch)
        shown += len(batch)


async def _follow_stats(
    r: RedisClient, follower: Follower, out: _Out, count: int | None, follow: bool
) -> None:
    views = [stats_view(r, follower.keyspace, s) for s in follower.seams]
    out.stats(views[:count] if count else views)
    shown = len(views)
    while follow and (count is None or shown < count):
        batch = await trio.to_thread.run_sync(follower.read, r, BLOCK_MS, abandon_on_cancel=True)
        if not batch:
            continue
        symbols = sorted({s.trade.symbol for s in batch})
        views = [stats_view(r, follower.keyspace, s) for s in symbols]
        views = views if count is None else views[: count - shown]
        out.stats(views)
        shown += len(views)


def _run(
    r: RedisClient,
    follower: Follower,
    out: _Out,
    count: int | None,
    follow: bool,
    show_stats: bool,
) -> None:
    if show_stats:
        trio.run(_follow_stats, r, follower, out, count, follow)
        return
    shown = _history(r, follower, out, count)
    if follow and (count is None or shown < count):
        trio.run(_follow, r, follower, out, None if count is None else count - shown)


def register(app: typer.Typer) -> None:
    @app.command("tail", help=_HELP)
    @shared("one line per trade: the stored member; --stats: one line per update")
    def tail(
        symbols: list[str] = _SYMBOLS,
        since: str | None = duration_option(
            "--since",
            "ORDERS_TAIL_SINCE",
            None,
            help="Print the trades of the last DURATION first (e.g. 5m), then follow.",
        ),
        follow: bool = typer.Option(
            True,
            "--follow/--no-follow",
            "-f",
            help="Keep following new trades (the default); --no-follow prints the --since "
            "history and exits.",
        ),
        count: int | None = typer.Option(
            None, "--count", "-n", min=1, help="Exit after N trades (or N --stats updates)."
        ),
        show_stats: bool = typer.Option(
            False, "--stats", help="Show the current 100 ms window and latest 1m bar instead."
        ),
        redis_url: str | None = redis_url_option(),
        market: str = market_option(),
        namespace: str = namespace_option(),
        *,
        out: Output,
    ) -> None:
        if not follow and since is None and not show_stats:
            raise UsageError(
                "--no-follow prints the --since history: give --since too, "
                f"e.g. {command('tail BTCUSDT --since 5m --no-follow')}"
            )
        keyspace = keyspace_for(market, namespace)
        since_ms = None
        if since is not None:
            since_ms = clock.now_ms() - parse_duration_ms(since)
        try:
            with open_redis(redis_url, namespace) as r:
                try:
                    wanted = resolve_symbols(r, keyspace, symbols)
                    follower = Follower.start(r, keyspace, wanted, since_ms)
                    if follow and not any_health(r, keyspace):  # no ingester reports here
                        other = ingesters_elsewhere(r, keyspace)
                        out.note(
                            f"orders tail: no `{command('run')}` is reporting to this Redis "
                            + (f"and namespace ({other}) " if other else "")
                            + f"(see `{command('status')}`); waiting for new trades anyway"
                        )
                    printer = _Out(out.json, follower, show_stats)
                    try:
                        _run(r, follower, printer, count, follow, show_stats)
                    finally:
                        printer.close()
                except LOST as exc:
                    raise RedisUnavailable(f"Redis went away: {exc}") from exc
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
        except BrokenPipeError:
            stdout_gone()
            raise typer.Exit(0) from None
