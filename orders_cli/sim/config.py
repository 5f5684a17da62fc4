"""Simulator configuration: symbols, faults, limits (frozen value types)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

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


@attrs.frozen
class SimConfig:
    """Everything a simulator run needs. Durations in seconds."""

    seed: int = 1
    symbols: tuple[SymbolSpec, ...] = attrs.field(default=(), converter=_as_tuple)
    faults: Faults = Faults()
    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    total_rate: float | None = None  # rescales symbol rates to this total (aggregates/s)
    history_s: float = 0.0
    tick_s: float = 0.01
    # WebSocket limits (Binance spot defaults)
    max_streams: int = 1024
    max_msgs_per_s: int = 5
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    lifetime_s: float = 24 * 3600.0
    shutdown_lead_s: float = 10.0
    max_connect_attempts: int = 300
    connect_window_s: float = 300.0
    max_send_backlog: int = 200_000
    # REST limits
    weight_budget: int = 6000
    weight_window_s: float = 60.0
    retry_after_s: int | None = None  # 429 Retry-After; None = until the window ends
    calls_after_429_to_ban: int = 3
    ban_s: int = 120

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
        **kwargs: Any,
    ) -> SimConfig:
        """``n_symbols`` TRADING symbols from spot-exchangeInfo-2021 with Zipf rates summing
        to ``total_rate``, plus a few BREAK ones and (``extras``) scenario symbols: a
        non-ASCII pair, a TRD_GRP-only pair, an idle pair."""
        rng = random.Random(stable_seed(seed, "fixture"))
        trading, breaking = fixture_symbols()
        chosen = trading[:n_symbols]
        weights = [1.0 / (i + 1) ** zipf_s for i in range(len(chosen))]
        wsum = sum(weights) or 1.0
        specs: list[SymbolSpec] = []
        for i, info in enumerate(chosen):
            specs.append(_spec_from_info(info, total_rate * weights[i] / wsum, rng))
        for info in breaking[: max(1, n_symbols // 20)]:
            specs.append(_spec_from_info(info, 0.0, rng))
        if extras:
            specs.append(
                SymbolSpec(
                    "币安人生USDT",
                    rate=1.0,
                    first_id=0,
                    price="0.12340000",
                    base_asset="币安人生",
                    tick_size="0.00010000",
                    step_size="1.00000000",
                )
            )
            specs.append(
                SymbolSpec(
                    "GRPONLYUSDT",
                    rate=0.5,
                    first_id=1000,
                    price="2.00000000",
                    tick_size="0.00100000",
                    step_size="0.10000000",
                    permission_sets=(("TRD_GRP_005",),),
                )
            )
            specs.append(SymbolSpec("IDLEUSDT", rate=0.0, first_id=77, price="1.00000000"))
        return cls(seed=seed, symbols=tuple(specs), **kwargs)


def _spec_from_info(info: dict[str, Any], rate: float, rng: random.Random) -> SymbolSpec:
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
    return SymbolSpec(
        symbol=info["symbol"],
        rate=rate,
        first_id=first_id,
        price=f"{price:.8f}",
        status=info["status"],
        base_asset=info["baseAsset"],
        quote_asset=info["quoteAsset"],
        tick_size=f"{tick:.8f}",
        step_size=f"{step:.8f}",
        first_fill_id=first_id + rng.randint(0, 10**6),
        info=info,
    )
