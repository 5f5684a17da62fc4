"""`orders verify`: find missing or duplicate trades; cross-check with REST; --repair."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from orders_cli.cli.console import Output
from orders_cli.cli.options import (
    duration_option,
    markets_option,
    namespace_option,
    parse_symbols,
    redis_url_option,
    rest_url_option,
    url_for,
)
from orders_cli.cli.shared_options import shared
from orders_cli.errors import ExchangeUnavailable, RateLimited, RedisUnavailable, UsageError

REST_SHARE = 0.5
"""verify waits while the IP's used weight (the header: an ingester's calls too) would
pass this share of the limit, so a running ingester keeps the rest."""

if TYPE_CHECKING:
    from orders_cli.ops.verify import VerifyOptions
    from orders_cli.ops.verify_report import VerifyReport
    from orders_cli.redis_types import RedisClient

_HELP = """Prove that no trade is missing: holes and duplicates in the stored aggregate ids,
the stream against the trades, and a REST cross-check of the head and of every hole.

The lower edge too: when the exchange has trades in the window before the first stored
one (a history window a cold start lost), that missing window is reported (one REST call
per symbol) and --repair fills it. REST calls keep the IP's weight under half of the
exchange's limit (its X-MBX-USED-WEIGHT-1M counts a running ingester too).

Ids REST lacks too are exchange-side holes: reported apart, not a problem. Trades
younger than --grace that Redis lacks are in flight (a running ingester is writing
them): counted apart, not a problem. --repair fills what REST has through the writer.
--bars recomputes every timeframe's bars from the stored trades; --klines compares the
1m bars with the exchange's klines.

Exit status: 0 clean (exchange-side holes and in-flight trades alone are clean), 1
problems found (also when --repair fixed them) or nothing checked (an empty store: 0
symbols prove nothing), 2 usage error (e.g. an unknown symbol) or Redis / exchange
unreachable.

Example: orders verify BTCUSDT ETHUSDT --since 1h

Example: orders verify --repair --bars --klines

Example: orders verify --rest-url http://127.0.0.1:9080   (against orders sim)

Example: orders verify --json | jq 'select(.ok == false)'

Example: orders verify --market all   (every market stored in the namespace; with
--json each line names its market)
"""


def register(app: typer.Typer) -> None:
    @app.command("verify", help=_HELP)
    @shared("one line per symbol, then a summary line")
    def verify(
        symbols: list[str] | None = typer.Argument(
            None, metavar="[SYMBOL...]", help="Symbols to check. Default: every stored one."
        ),
        since: str = duration_option(
            "--since", "ORDERS_VERIFY_SINCE", "24h", help="Check trades this recent."
        ),
        grace: str = duration_option(
            "--grace",
            "ORDERS_VERIFY_GRACE",
            "10s",
            help="Trades this young that Redis lacks are in flight, not missing.",
        ),
        repair: bool = typer.Option(
            False, "--repair", help="Fill what REST has through the writer."
        ),
        bars: bool = typer.Option(
            False, "--bars", help="Recompute bars from the stored trades and compare."
        ),
        klines: bool = typer.Option(
            False, "--klines", help="Compare the 1m bars with the exchange's klines."
        ),
        redis_url: str | None = redis_url_option(),
        rest_url: str | None = rest_url_option(),
        market: str = markets_option(
            help="Market(s) to verify: spot, usdm, coinm, several comma-separated, or all "
            "(every market stored in the namespace)."
        ),
        namespace: str = namespace_option(),
        *,
        out: Output,
    ) -> None:
        from orders_cli.durations import parse_duration_ms
        from orders_cli.ops.conn import open_redis
        from orders_cli.ops.symbols import keyspace_for, nothing_stored, resolve_markets
        from orders_cli.ops.verify import VerifyOptions

        wanted = parse_symbols(symbols or [])
        if wanted and (market == "all" or "," in market):
            raise UsageError("SYMBOLs belong to one market: give one --market with them")
        since_ms = parse_duration_ms(since)
        if since_ms <= 0:
            raise UsageError("--since must be longer than 0")
        opts = VerifyOptions(
            since_ms=since_ms,
            repair=repair,
            bars=bars,
            klines=klines,
            grace_ms=parse_duration_ms(grace),
        )
        clean = True
        try:
            with open_redis(redis_url, namespace) as r:
                # all with nothing stored: spot, to say so the way one market does
                markets = resolve_markets(r, market, namespace) or ["spot"]
                for name in markets:
                    base = url_for(rest_url, name)
                    try:
                        report = _run(r, wanted, opts, base, name, namespace)
                    except ExchangeUnavailable as exc:
                        sys.stderr.write(f"orders: error: {rest_error(exc, base, name)}\n")
                        raise typer.Exit(2) from None
                    _print_report(report, out.json, name if len(markets) > 1 else None)
                    if not report.symbols:  # nothing checked proves nothing
                        where = nothing_stored(keyspace_for(name, namespace))
                        sys.stderr.write(
                            f"orders: warning: 0 symbols checked, nothing proven: {where}\n"
                        )
                    clean = clean and report.clean and bool(report.symbols)
        except RedisUnavailable as exc:
            sys.stderr.write(f"orders: error: {exc}\n")
            raise typer.Exit(2) from None
        raise typer.Exit(0 if clean else 1)


def _print_report(report: VerifyReport, as_json: bool, market: str | None) -> None:
    """One market's report (JSON lines or tables, by the output rule: ``as_json``);
    ``market`` is named when the verify covers several."""
    if as_json:
        sys.stdout.buffer.write(report.json_lines(market))
        sys.stdout.flush()
        return
    from orders_cli.cli.console import out_console
    from orders_cli.cli.render_verify import render

    if market is not None:
        out_console().print(f"[b]market {market}[/b]")
    out_console().print(render(report))


def rest_error(exc: ExchangeUnavailable, rest_url: str | None, market: str) -> str:
    """One line naming the REST host tried, with what to do about it."""
    from orders_cli.sources.registry import get_source

    base = rest_url or get_source(market).default_rest_url
    if isinstance(exc, RateLimited):
        return f"the exchange REST API at {base} is limiting us ({exc}); try again later"
    hint = (
        "is it running? (the simulator prints its REST URL)"
        if rest_url
        else "offline? use --rest-url (the simulator prints its REST URL)"
    )
    return f"cannot reach the exchange REST API at {base} ({exc}); {hint}"


def _run(
    r: RedisClient,
    symbols: list[str],
    opts: VerifyOptions,
    rest_url: str | None,
    market: str,
    namespace: str,
) -> VerifyReport:
    import trio

    from orders_cli.ops.symbols import keyspace_for
    from orders_cli.ops.verify import Verifier
    from orders_cli.rest.client import RestClient
    from orders_cli.sources.registry import get_source

    source = get_source(market)
    ks = keyspace_for(market, namespace)

    async def main() -> VerifyReport:
        async with RestClient(
            rest_url or source.default_rest_url,
            weight_limit_per_minute=source.limits.rest_weight_per_minute,
            target_fraction=REST_SHARE,
        ) as rest:
            return await Verifier(r, ks, source, rest, opts).run(symbols)

    return trio.run(main)
