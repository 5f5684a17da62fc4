"""Recovering coarse bars a writer left not rolled up (a crash, a lost connection, a
second writer): recompute the marked windows from Redis and clear the marker, atomically
and conditionally on the symbol's revision. See store/rollup.py for why this is exact."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from orders_cli.errors import RedisUnavailable
from orders_cli.hints import command
from orders_cli.redis_types import RedisClient
from orders_cli.stats.codec import encode_bar
from orders_cli.store.keys import SYMBOL_KEY_COUNT, Keyspace
from orders_cli.store.planner import SymbolState
from orders_cli.store.rollup import recompute
from orders_cli.store.script import APPLY_LUA, APPLY_SHA, apply_args
from orders_cli.store.symbol_io import load_states

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def recover_rollup(
    redis: RedisClient,
    ks: Keyspace,
    st: SymbolState,
    chain: Sequence[str],
    *,
    oldest_ms: int,
    counters: Counter[str],
) -> SymbolState:
    """``st`` with its ``rollup`` marker resolved: every marked window at or after
    ``oldest_ms`` recomputed and written, older ones (their trades may be pruned already)
    counted as ``rollup_unrecoverable`` and logged. Returns the state at its new revision."""
    for _attempt in range(MAX_ATTEMPTS):
        windows = [w for w in st.rollup if w >= oldest_ms]
        lost = len(st.rollup) - len(windows)
        bars = recompute(redis, ks, st.symbol, chain, windows)
        args = apply_args(
            expected_revision=st.revision,
            state_fields={"rollup": ""},
            trades=[],
            bars={
                tf: [(ws, encode_bar(b), True) for ws, b in by_ws.items()]
                for tf, by_ws in bars.items()
            },
            current_values=(),
            info_fields={},
        )
        redis.script_load(APPLY_LUA)  # rare path: make sure the script is there
        res = redis.evalsha(APPLY_SHA, SYMBOL_KEY_COUNT, *ks.symbol_keys(st.symbol), *args)
        if int(res[0]) == 1:
            counters["rollup_recovered"] += len(windows)
            if lost:
                counters["rollup_unrecoverable"] += lost
                log.warning(
                    "%s: %d coarse bar window(s) left by a previous run are older than the "
                    "trades' retention and were not recomputed; `%s` checks",
                    st.symbol,
                    lost,
                    command("verify --bars"),
                )
            st.revision, st.rollup = int(res[1]), ()
            return st
        st = load_states(redis, ks, [st.symbol])[st.symbol]
        if not st.rollup:
            return st
    raise RedisUnavailable(f"state of {st.symbol} keeps changing under us")
