"""`orders stats`: the current 100 ms window and the latest bars of one symbol."""

from __future__ import annotations

from typing import Any

import orjson
import typer
from rich.console import Group, RenderableType

from orders_cli.cli.console import Output, Screen, every, out_console
from orders_cli.cli.options import market_option, namespace_option, redis_url_option
from orders_cli.cli.shared_options import WatchCommand, shared, watch_option
from orders_cli.durations import parse_duration
from orders_cli.stats.codec import encode_bar
from orders_cli.store.query import read_bars, read_current
from orders_cli.timeframes import TIMEFRAMES

_HELP = """Show the current 100 ms window and the latest bars of a symbol.

Example: orders stats BTCUSDT  (the last 20 one-minute bars and the current window)

Example: orders stats ETHUSDT --tf 1h --last 48 --chart

Example: orders stats BTCUSDT --watch 5s  (redrawn every 5 s until Ctrl-C)

Example: orders stats BTCUSDT --tf 5m --json | jq '.bars[].close'

On a terminal: tables (decimals to the same places down a column, vwap to the prices'
places). Into a pipe or with -o json: one JSON document {symbol, tf, bars: [the stored
bar members], current: {the current window's fields}}; counts, ids and epoch-ms times
are numbers, prices and quantities decimal strings.
"""


def _tf(value: str) -> str:
    if value not in TIMEFRAMES:
        raise typer.BadParameter(f"unknown timeframe {value!r}; one of {', '.join(TIMEFRAMES)}")
    return value


def register(app: typer.Typer) -> None:
    @app.command("stats", help=_HELP, cls=WatchCommand)
    @shared("one document: symbol, tf, bars, current")
    def stats(
        symbol: str = typer.Argument(..., metavar="SYMBOL", help="e.g. BTCUSDT"),
        tf: str = typer.Option(
            "1m", "--tf", callback=_tf, help=f"Timeframe: {', '.join(TIMEFRAMES)}."
        ),
        last: int = typer.Option(20, "--last", min=1, max=100_000, help="How many bars."),
        show_chart: bool = typer.Option(
            False, "--chart", help="Draw a price (close, high/low) and volume chart."
        ),
        watch: str | None = watch_option("the bars and the current window"),
        redis_url: str | None = redis_url_option(),
        market: str = market_option(),
        namespace: str = namespace_option(),
        *,
        out: Output,
    ) -> None:
        from orders_cli.cli import render_stats as rs
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for, resolve_symbols

        ks = keyspace_for(market, namespace)
        with open_redis(redis_url, namespace) as r:
            (sym,) = resolve_symbols(r, ks, [symbol])
            screen = Screen(out.json, redraw=watch is not None)

            def step() -> None:
                bars = read_bars(r, ks, sym, tf, last)
                current = read_current(r, ks, sym)

                def view() -> Group:
                    chart = [rs.chart(sym, tf, bars, width=out_console().width)]
                    tables: list[RenderableType] = [
                        rs.bars_table(sym, tf, bars),
                        rs.current_table(sym, current),
                    ]
                    return Group(*(chart if show_chart else []), *tables)

                screen.show(lambda: document(sym, tf, bars, current), view)

            try:
                every(None if watch is None else parse_duration(watch), step)
            finally:
                screen.close()


def document(
    symbol: str, tf: str, bars: list[Any], current: dict[str, int | str]
) -> dict[str, Any]:
    """The JSON document: the bars as their stored members, the typed current window
    (``None`` when none is stored)."""
    return {
        "symbol": symbol,
        "tf": tf,
        "bars": [orjson.loads(encode_bar(b)) for b in bars],
        "current": current or None,
    }
