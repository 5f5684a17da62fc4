"""The only place Redis key names are built.

``{S}`` is a literal Redis Cluster hash tag: every key of one symbol lives in one slot, so
one symbol's batch can be applied atomically by one Lua script, in Cluster too. Spot keys
have no prefix (exactly the seed schema); other markets are prefixed ``usdm:`` /
``coinm:``; a global ``namespace`` may prefix everything for shared servers.
"""

from __future__ import annotations

import attrs

from orders_cli.timeframes import TIMEFRAMES

SYMBOL_KEY_COUNT: int = 5 + len(TIMEFRAMES)
"""Keys of :meth:`Keyspace.symbol_keys`: five fixed ones, then one per timeframe."""


@attrs.frozen(slots=True)
class Keyspace:
    """Key names for one market in one namespace."""

    market_prefix: str = ""  # "" for spot, "usdm:" for USD-M, ...
    namespace: str = ""  # global prefix for shared servers, e.g. "prod:"

    @property
    def _p(self) -> str:
        return f"{self.namespace}{self.market_prefix}"

    # --- per symbol (all under the {S} hash tag) ---------------------------------------
    def trades_latest(self, symbol: str) -> str:
        return f"{self._p}trades:{{{symbol}}}:latest"

    def trades_stream(self, symbol: str) -> str:
        return f"{self._p}trades:{{{symbol}}}:stream"

    def stats_current(self, symbol: str) -> str:
        return f"{self._p}stats:{{{symbol}}}:current"

    def bars(self, symbol: str, tf: str) -> str:
        if tf not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {tf!r}; expected one of {TIMEFRAMES}")
        return f"{self._p}stats:{{{symbol}}}:{tf}"

    def symbol_info(self, symbol: str) -> str:
        return f"{self._p}symbol:{{{symbol}}}:info"

    def state(self, symbol: str) -> str:
        """Ingest state: watermark, revision, stream id cursor, open gaps."""
        return f"{self._p}state:{{{symbol}}}:ingest"

    def symbol_keys(self, symbol: str) -> list[str]:
        """Every key of one symbol, in the order the apply script expects (KEYS[1..])."""
        return [
            self.state(symbol),
            self.trades_latest(symbol),
            self.trades_stream(symbol),
            self.stats_current(symbol),
            self.symbol_info(symbol),
            *(self.bars(symbol, tf) for tf in TIMEFRAMES),
        ]

    # --- global (not symbol-scoped) -----------------------------------------------------
    def symbols(self) -> str:
        """SET of every symbol ever stored for this market (for verify/prune/tail)."""
        return f"{self._p}orders:symbols"

    def origin(self) -> str:
        """STRING: who fills this keyspace — "simulator" (the demo) or "exchange"."""
        return f"{self._p}orders:origin"

    def data_patterns(self) -> dict[str, str]:
        """SCAN patterns covering every key of this market and namespace, by kind (for a
        wipe and the counts it shows first)."""
        p = self._p
        return {
            "trades": f"{p}trades:{{*",
            "stats": f"{p}stats:{{*",
            "symbol info": f"{p}symbol:{{*",
            "ingest state": f"{p}state:{{*",
            "orders meta": f"{p}orders:*",
        }

    def schema(self) -> str:
        """STRING: the key layout version of this namespace (``store/schema.py``)."""
        return f"{self.namespace}orders:schema"

    def malformed_samples(self) -> str:
        """LIST of recent malformed frames (bounded, newest first)."""
        return f"{self._p}orders:malformed"

    def health(self, ingester_id: str) -> str:
        """Health snapshot of one running ingester (JSON string with a TTL)."""
        return f"{self.namespace}orders:health:{ingester_id}"

    def health_pattern(self) -> str:
        return f"{self.namespace}orders:health:*"

    def prune_lock(self) -> str:
        return f"{self.namespace}orders:prune:lock"


HEALTH_ANY_NAMESPACE = "*orders:health:*"
"""SCAN pattern of every ingester's health key, whatever its namespace."""


def health_namespace(key: str) -> str:
    """The namespace (without its ``:``) of a health key matched by
    :data:`HEALTH_ANY_NAMESPACE`: ``demo:orders:health:x`` -> ``demo``."""
    return key.rpartition("orders:health:")[0].rstrip(":")
