"""`orders tail`: follow trades live from ``trades:{S}:stream`` (several symbols at once)."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

import orjson
import redis
import trio
import typer

from orders_cli.cli.options import (
    duration_option,
    json_option,
    market_option,
    namespace_option,
    redis_url_option,
)
from orders_cli.durations import parse_duration_ms
from orders_cli.errors import RedisUnavailable
from orders_cli.models import Trade
from orders_cli.ops.conn import open_redis
from orders_cli.ops.status import any_health
from orders_cli.ops.tail import Follower, resolve_symbols, stats_view
from orders_cli.redis_types import RedisClient
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import encode_member

BLOCK_MS = 1000
ROWS = 30
_SYMBOLS = typer.Argument(..., metavar="SYMBOL...", help="Symbols to follow (e.g. BTCUSDT).")


def keyspace_for(market: str, namespace: str) -> Keyspace:
    return Keyspace(market_prefix="" if market == "spot" else f"{market}:", namespace=namespace)


class _Out:
    """JSON lines to stdout, or a rich live table on a TTY."""

    def __init__(self, as_json: bool, title: str) -> None:
        self.as_json = as_json
        self.title = title
        self.rows: deque[Trade] = deque(maxlen=ROWS)
        self.views: dict[str, dict[str, Any]] = {}
        self.live: Any = None
        if not as_json:
            from rich.live import Live

            self.live = Live(auto_refresh=False, transient=False)
            self.live.start()

    def trades(self, trades: list[Trade]) -> None:
        if self.as_json:
            sys.stdout.buffer.write(b"".join(encode_member(t) + b"\n" for t in trades))
            sys.stdout.flush()
            return
        from orders_cli.cli.render_ops import trades_table

        self.rows.extend(trades)
        self.live.update(trades_table(list(reversed(self.rows)), self.title), refresh=True)

    def stats(self, views: list[dict[str, Any]]) -> None:
        if self.as_json:
            sys.stdout.buffer.write(b"".join(orjson.dumps(v) + b"\n" for v in views))
            sys.stdout.flush()
            return
        from orders_cli.cli.render_ops import stats_table

        self.views.update({v["symbol"]: v for v in views})
        self.live.update(stats_table(list(self.views.values())), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


async def _follow(
    r: RedisClient,
    follower: Follower,
    out: _Out,
    count: int | None,
    show_stats: bool,
) -> None:
    shown = 0
    if show_stats:
        views = [stats_view(r, follower.keyspace, s) for s in follower.symbol_of.values()]
        out.stats(views[:count] if count else views)
        shown = len(views)
    while count is None or shown < count:
        trades = await trio.to_thread.run_sync(follower.read, r, BLOCK_MS, abandon_on_cancel=True)
        if not trades:
            continue
        if show_stats:
            symbols = sorted({t.symbol for t in trades})
            views = [stats_view(r, follower.keyspace, s) for s in symbols]
            batch_v = views if count is None else views[: count - shown]
            out.stats(batch_v)
            shown += len(batch_v)
        else:
            batch_t = trades if count is None else trades[: count - shown]
            out.trades(batch_t)
            shown += len(batch_t)


def register(app: typer.Typer) -> None:
    @app.command("tail")
    def tail(
        symbols: list[str] = _SYMBOLS,
        since: str | None = duration_option(
            "--since", "ORDERS_TAIL_SINCE", None, help="Start this far in the past (e.g. 5m)."
        ),
        count: int | None = typer.Option(
            None, "--count", "-n", min=1, help="Exit after N trades (or N --stats updates)."
        ),
        show_stats: bool = typer.Option(
            False, "--stats", help="Show the current 100 ms window and latest 1m bar instead."
        ),
        as_json: bool = json_option(
            "One trade per line, exactly the stored member JSON (default when not a TTY)."
        ),
        redis_url: str | None = redis_url_option(),
        market: str = market_option(),
        namespace: str = namespace_option(),
    ) -> None:
        """Follow trades live from Redis (XREAD BLOCK), several symbols at once.

        A rich live table on a terminal; JSON lines (the stored member JSON) with --json or
        when stdout is not a terminal. Ctrl-C exits 0. An unknown symbol exits 2 and names
        close matches.

        Example: orders tail BTCUSDT ETHUSDT --since 5m --count 100 --json
        """
        keyspace = keyspace_for(market, namespace)
        json_out = as_json or not sys.stdout.isatty()
        since_ms = None
        if since is not None:
            since_ms = int(time.time() * 1000) - parse_duration_ms(since)
        try:
            with open_redis(redis_url) as r:
                try:
                    wanted = resolve_symbols(r, keyspace, symbols)
                    follower = Follower.start(r, keyspace, wanted, since_ms)
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    raise RedisUnavailable(f"Redis went away: {exc}") from exc
                if not any_health(r, keyspace):  # no ingester publishes health here
                    typer.echo(
                        "orders tail: no `orders run` is reporting to this Redis "
                        "(see `orders status`); waiting for new trades anyway",
                        err=True,
                    )
                out = _Out(json_out, f"orders tail {' '.join(wanted)}")
                try:
                    trio.run(_follow, r, follower, out, count, show_stats)
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    raise RedisUnavailable(f"Redis went away: {exc}") from exc
                finally:
                    out.close()
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (e.g. `| head`): not an error
            raise typer.Exit(0) from None
