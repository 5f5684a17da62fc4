"""Simulator configuration: symbols, faults, limits (frozen value types)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from orders_cli.sim.markets import MARKETS, MarketRules, rules
from orders_cli.sim.recorded import fixture_symbols


def stable_seed(*parts: object) -> int:
    """A seed that does not change between processes (``hash()`` of str does)."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


@attrs.frozen
class SymbolSpec:
    """One simulated symbol. ``rate`` is aggregate trades per second (0 = idle)."""

    symbol: str
    rate: float = 1.0
    first_id: int = 0
    price: str = "100.00000000"
    status: str = "TRADING"
    base_asset: str = ""
    quote_asset: str = "USDT"
    tick_size: str = "0.01000000"
    step_size: str = "0.00001000"
    first_fill_id: int | None = None
    burst_p: float = 0.05
    permission_sets: tuple[tuple[str, ...], ...] = (("SPOT",),)
    info: dict[str, Any] | None = attrs.field(default=None, eq=False, hash=False, repr=False)

    @property
    def base(self) -> str:
        if self.base_asset:
            return self.base_asset
        q = self.quote_asset
        return self.symbol[: -len(q)] if q and self.symbol.endswith(q) else self.symbol

    @property
    def stream(self) -> str:
        return f"{self.symbol.lower()}@aggTrade"


@attrs.frozen
class FaultSpec:
    """A fault fires with probability ``rate`` per event, and once at each ``at`` second."""

    rate: float = 0.0
    at: tuple[float, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or bool(self.at)


@attrs.frozen
class Faults:
    """Fault switches. Trade faults are per trade; stall/abort per connection-second."""

    drop: FaultSpec = FaultSpec()
    duplicate: FaultSpec = FaultSpec()
    malformed: FaultSpec = FaultSpec()
    reorder_burst: FaultSpec = FaultSpec()
    stall: FaultSpec = FaultSpec()
    stall_s: float = 5.0
    abort: FaultSpec = FaultSpec()
    rest_error: FaultSpec = FaultSpec()
    rest_error_status: int = 503
    # (symbol, first id, last id) inclusive: REST never returns these ids
    holes: tuple[tuple[str, int, int], ...] = ()
    # (seconds after start, spec): symbol appears in exchangeInfo and starts trading
    listings: tuple[tuple[float, SymbolSpec], ...] = ()
    # (seconds after start, symbol, status)
    status_changes: tuple[tuple[float, str, str], ...] = ()


def _as_tuple(items: Iterable[SymbolSpec]) -> tuple[SymbolSpec, ...]:
    return tuple(items)


def _market_default(name: str) -> Any:
    """A field whose default is the market's (sim/markets.py), e.g. 5 or 10 msgs/s."""
    return attrs.Factory(lambda cfg: getattr(rules(cfg.market), name), takes_self=True)


@attrs.frozen
class SimConfig:
    """Everything a simulator run needs, for one market. Durations in seconds."""

    market: str = attrs.field(default="spot", validator=attrs.validators.in_(MARKETS))
    seed: int = 1
    symbols: tuple[SymbolSpec, ...] = attrs.field(default=(), converter=_as_tuple)
    faults: Faults = Faults()
    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    total_rate: float | None = None  # rescales symbol rates to this total (aggregates/s)
    history_s: float = 0.0
    tick_s: float = 0.01
    # WebSocket limits (defaults: the market's)
    max_streams: int = 1024
    max_msgs_per_s: int = _market_default("max_msgs_per_s")
    ping_interval_s: float = _market_default("ping_interval_s")
    pong_timeout_s: float = _market_default("pong_timeout_s")
    lifetime_s: float = 24 * 3600.0
    shutdown_lead_s: float = 10.0
    max_connect_attempts: int = 300
    connect_window_s: float = 300.0
    max_send_backlog: int = 200_000
    # REST limits; the budget is per weight pool (USD-M and COIN-M share one)
    weight_budget: int = _market_default("weight_budget")
    # aggTrades older than this are not served (None: all are)
    rest_history_s: float | None = _market_default("rest_history_s")
    weight_window_s: float = 60.0
    retry_after_s: int | None = None  # 429 Retry-After; None = until the window ends
    calls_after_429_to_ban: int = 3
    ban_s: int = 120

    @property
    def rules(self) -> MarketRules:
        return rules(self.market)

    def rates(self) -> list[float]:
        raw = [s.rate for s in self.symbols]
        if self.total_rate is None:
            return raw
        total = sum(raw)
        return [r * self.total_rate / total if total else 0.0 for r in raw]

    @classmethod
    def from_fixture(
        cls,
        n_symbols: int = 300,
        seed: int = 1,
        total_rate: float = 200.0,
        zipf_s: float = 1.1,
        extras: bool = True,
        market: str = "spot",
        **kwargs: Any,
    ) -> SimConfig:
        """``n_symbols`` TRADING symbols from the market's recorded exchangeInfo with Zipf
        rates summing to ``total_rate``, plus a few non-TRADING ones and (``extras``)
        scenario symbols: a non-ASCII pair (spot, USD-M), a TRD_GRP-only pair (spot), an
        idle one."""
        market_rules = rules(market)
        rng = random.Random(stable_seed(seed, "fixture"))
        trading, breaking = fixture_symbols(market_rules)
        chosen = trading[:n_symbols]
        weights = [1.0 / (i + 1) ** zipf_s for i in range(len(chosen))]
        wsum = sum(weights) or 1.0
        specs: list[SymbolSpec] = []
        for i, info in enumerate(chosen):
            rate = total_rate * weights[i] / wsum
            specs.append(_spec_from_info(info, rate, rng, market_rules))
        for info in breaking[: max(1, n_symbols // 20)]:
            specs.append(_spec_from_info(info, 0.0, rng, market_rules))
        if extras:
            specs.extend(_EXTRAS[market])
        return cls(market=market, seed=seed, symbols=tuple(specs), **kwargs)


_CJK = SymbolSpec(
    "币安人生USDT",
    rate=1.0,
    first_id=0,
    price="0.12340000",
    base_asset="币安人生",
    tick_size="0.00010000",
    step_size="1.00000000",
)
_EXTRAS: dict[str, tuple[SymbolSpec, ...]] = {
    "spot": (
        _CJK,
        SymbolSpec(
            "GRPONLYUSDT",
            rate=0.5,
            first_id=1000,
            price="2.00000000",
            tick_size="0.00100000",
            step_size="0.10000000",
            permission_sets=(("TRD_GRP_005",),),
        ),
        SymbolSpec("IDLEUSDT", rate=0.0, first_id=77, price="1.00000000"),
    ),
    "usdm": (
        attrs.evolve(_CJK, first_id=1),
        SymbolSpec("IDLEUSDT", rate=0.0, first_id=77, price="1.00000000"),
    ),
    "coinm": (
        SymbolSpec(
            "IDLEUSD_PERP",
            rate=0.0,
            first_id=77,
            price="1.0",
            quote_asset="USD",
            base_asset="IDLE",
            tick_size="0.1",
            step_size="1",
        ),
    ),
}


def _spec_from_info(
    info: dict[str, Any], rate: float, rng: random.Random, market: MarketRules
) -> SymbolSpec:
    filters = {f["filterType"]: f for f in info.get("filters", [])}
    tick = Decimal(filters.get("PRICE_FILTER", {}).get("tickSize", "0.00000001"))
    step = Decimal(filters.get("LOT_SIZE", {}).get("stepSize", "0.00000001"))
    if tick <= 0:
        tick = Decimal("0.00000001")
    if step <= 0:
        step = Decimal("0.00000001")
    price = (tick * rng.randint(2_000, 200_000)).quantize(Decimal("0.00000001"))
    # a spread of id offsets: some small, some above 2**31 like BTCUSDT
    first_id = rng.choice([0, rng.randint(1, 10**7), rng.randint(2**31, 2**31 + 10**9)])
    first_id = max(first_id, market.first_agg_id)
    return SymbolSpec(
        symbol=info["symbol"],
        rate=rate,
        first_id=first_id,
        price=f"{price:.8f}",
        status=info[market.status_key],
        base_asset=info["baseAsset"],
        quote_asset=info["quoteAsset"],
        tick_size=f"{tick:.8f}",
        step_size=f"{step:.8f}",
        first_fill_id=first_id + rng.randint(0, 10**6),
        info=info,
    )
