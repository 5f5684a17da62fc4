"""Which of the symbols a command is asked about are stored: the one check (and its hints)
`tail`, `stats` and `verify` share."""

from __future__ import annotations

import difflib

from orders_cli.errors import UsageError
from orders_cli.hints import command
from orders_cli.redis_types import RedisClient
from orders_cli.sources.registry import SOURCES, get_source
from orders_cli.store.info import held_symbols
from orders_cli.store.keys import Keyspace

SHOWN = 5


def keyspace_for(market: str, namespace: str) -> Keyspace:
    """The keys of ``market`` (its source's prefix: none on spot, ``usdm:``...)."""
    return Keyspace(market_prefix=get_source(market).key_prefix, namespace=namespace)


def stored_markets(r: RedisClient, namespace: str) -> list[str]:
    """The markets that hold a symbol in ``namespace`` (what ``--market all`` means to a
    command that reads or prunes the store), in the registry's order."""
    return [m for m in SOURCES if r.exists(keyspace_for(m, namespace).symbols())]


def resolve_markets(r: RedisClient, markets: str, namespace: str) -> list[str]:
    """``--market`` as checked by the CLI (``"spot,usdm"`` or ``"all"``) -> the markets to
    act on; ``all``: those holding symbols in ``namespace`` (maybe none)."""
    if markets == "all":
        return stored_markets(r, namespace)
    return markets.split(",")


def nothing_stored(keyspace: Keyspace) -> str:
    """What to say about a keyspace that holds no symbol at all."""
    market = keyspace.market_prefix.rstrip(":") or "spot"
    ns = f" under namespace {keyspace.namespace.rstrip(':')!r}" if keyspace.namespace else ""
    return f"nothing stored yet for market {market}{ns}: start `{command('run')}`"


def resolve_symbols(r: RedisClient, keyspace: Keyspace, wanted: list[str]) -> list[str]:
    """Upper-cased ``wanted``; :class:`UsageError` (exit 2) if one is not stored: naming
    close matches, else some stored symbols, or saying that nothing is stored yet."""
    symbols = [s.strip().upper() for s in wanted if s.strip()]
    if not symbols:
        raise UsageError(f"give at least one SYMBOL, e.g. {command('tail BTCUSDT')}")
    known = held_symbols(r, keyspace)
    if not known:
        raise UsageError(nothing_stored(keyspace))
    for s in symbols:
        if s not in known:
            raise UsageError(_unknown(s, sorted(known), keyspace))
    return symbols


def _unknown(symbol: str, known: list[str], keyspace: Keyspace) -> str:
    market = keyspace.market_prefix.rstrip(":") or "spot"
    close = difflib.get_close_matches(symbol, known, n=SHOWN, cutoff=0.6)
    if close:
        hint = f"did you mean {', '.join(close)}?"
    else:
        more = ", ..." if len(known) > SHOWN else ""
        hint = f"{len(known):,} stored: {', '.join(known[:SHOWN])}{more}"
    return f"unknown symbol {symbol!r} (not stored for market {market}); {hint}"
