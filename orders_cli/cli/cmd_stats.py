"""`orders stats`: the current 100 ms window and the latest bars of one symbol."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer

from orders_cli.cli.options import (
    json_option,
    market_option,
    namespace_option,
    redis_url_option,
)
from orders_cli.stats.codec import encode_bar
from orders_cli.store.query import read_bars, read_current
from orders_cli.timeframes import TIMEFRAMES

_HELP = """Show the current 100 ms window and the latest bars of a symbol.

Example: orders stats BTCUSDT  (the last 20 one-minute bars and the current window)

Example: orders stats ETHUSDT --tf 1h --last 48 --chart

Example: orders stats BTCUSDT --tf 5m --json | jq .close
"""


def _tf(value: str) -> str:
    if value not in TIMEFRAMES:
        raise typer.BadParameter(f"unknown timeframe {value!r}; one of {', '.join(TIMEFRAMES)}")
    return value


def register(app: typer.Typer) -> None:
    @app.command("stats", help=_HELP)
    def stats(
        symbol: str = typer.Argument(..., metavar="SYMBOL", help="e.g. BTCUSDT"),
        tf: str = typer.Option(
            "1m", "--tf", callback=_tf, help=f"Timeframe: {', '.join(TIMEFRAMES)}."
        ),
        last: int = typer.Option(20, "--last", min=1, max=100_000, help="How many bars."),
        as_json: bool = json_option(),
        show_chart: bool = typer.Option(
            False, "--chart", help="Draw a price (close, high/low) and volume chart."
        ),
        redis_url: str | None = redis_url_option(),
        market: str = market_option(),
        namespace: str = namespace_option(),
    ) -> None:
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for, resolve_symbols

        ks = keyspace_for(market, namespace)
        with open_redis(redis_url, namespace) as r:
            (sym,) = resolve_symbols(r, ks, [symbol])
            bars = read_bars(r, ks, sym, tf, last)
            current = read_current(r, ks, sym)
        if as_json:
            _print_json(sym, tf, bars, current)
            return
        from orders_cli.cli import render_stats as rs
        from orders_cli.cli.console import out_console

        console = out_console()
        if show_chart:
            console.print(rs.chart(sym, tf, bars, width=console.width))
        console.print(rs.bars_table(sym, tf, bars))
        console.print(rs.current_table(sym, current))


def _print_json(symbol: str, tf: str, bars: list[Any], current: dict[str, str]) -> None:
    out = sys.stdout.buffer
    for bar in bars:
        row = {"symbol": symbol, "tf": tf, **orjson.loads(encode_bar(bar))}
        out.write(orjson.dumps(row) + b"\n")
    if current:
        out.write(orjson.dumps({"symbol": symbol, "tf": "current", **current}) + b"\n")
    out.flush()
