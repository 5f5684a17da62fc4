"""One symbol's deterministic trade generator and its compact trade history.

Prices and quantities are integers in units of 1e-8 (spot's 8 decimals; futures print
the contract's precision, the decimals of its tick and step sizes). Every random draw
comes from the symbol's own ``random.Random`` in a fixed order, so the sequence of
trades (ids, prices, quantities, f/l, m, burst sizes) depends only on the seed.
"""

from __future__ import annotations

import bisect
import random
from array import array
from decimal import Decimal
from typing import Any

from orders_cli.sim.config import SymbolSpec, stable_seed
from orders_cli.sim.markets import SPOT, MarketRules

UNIT = 10**8
DIGITS = 8
# futures: chance that ids are skipped before an aggregate (trades that are not
# aggregated: insurance fund, ADL; docs/binance.md §2.3), and at most how many
SKIP_P = 0.03
SKIP_MAX = 3


def to_units(text: str) -> int:
    return int(Decimal(text) * UNIT)


def fmt8(units: int) -> str:
    """Units of 1e-8 as Binance's 8-decimal string ("58001.03000000")."""
    return f"{units // UNIT}.{units % UNIT:08d}"


def fmt(units: int, digits: int) -> str:
    """Units of 1e-8 with ``digits`` decimals ("60581.0", "369"); exact for multiples
    of 10**(8 - digits)."""
    if digits == DIGITS:
        return fmt8(units)
    whole = units // UNIT
    if digits <= 0:
        return str(whole)
    return f"{whole}.{(units % UNIT) // 10 ** (DIGITS - digits):0{digits}d}"


def decimals(size: str) -> int:
    """Decimals of a tick or step size: "0.01000000" -> 2, "1" -> 0."""
    exponent = Decimal(size).normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # a finite size
    return max(0, min(DIGITS, -exponent))


class Book:
    """Generator state plus every trade generated so far (history and live)."""

    def __init__(
        self, spec: SymbolSpec, seed: int, rate: float, market: MarketRules = SPOT
    ) -> None:
        self.spec = spec
        self.market = market
        self.symbol = spec.symbol
        self.stream = spec.stream
        self.status = spec.status
        self.rate = rate
        self.rng = random.Random(stable_seed(seed, spec.symbol))
        self.first_id = max(spec.first_id, market.first_agg_id)
        self.first_fill = spec.first_fill_id if spec.first_fill_id is not None else self.first_id
        self.futures = market.futures
        self.p_digits = decimals(spec.tick_size) if market.futures else DIGITS
        self.q_digits = decimals(spec.step_size) if market.futures else DIGITS
        self.tick = max(1, to_units(spec.tick_size))
        self.step = max(1, to_units(spec.step_size))
        self.price = max(self.tick, to_units(spec.price) // self.tick * self.tick)
        notional = Decimal(100) / max(Decimal(spec.price), Decimal("0.00000001"))
        self.base_steps = max(1, int(notional * UNIT / self.step))
        self.mean_group = 1.0 + spec.burst_p * 6.0
        # trade columns, index = a - first_id
        self.p = array("q")
        self.q = array("q")
        self.ll = array("q")
        self.t = array("q")
        self.e_delay = array("I")
        self.m = bytearray()
        # futures: each aggregate's first trade id (ids may be skipped); spot: l + 1
        self.ff: array[int] | None = array("q") if market.futures else None
        self.next_due = 0.0  # virtual seconds since the book's epoch

    # -- generation ---------------------------------------------------------------------
    def next_gap(self) -> float:
        if self.rate <= 0:
            return float("inf")
        return self.rng.expovariate(self.rate / self.mean_group)

    def group_size(self) -> int:
        rng = self.rng
        return 1 if rng.random() >= self.spec.burst_p else rng.randint(2, 12)

    def add_group(self, n: int, t_ms: int) -> range:
        """Append ``n`` aggregates with trade time ``t_ms``; return their indexes."""
        rng = self.rng
        start = len(self.p)
        prev_l = self.ll[-1] if start else self.first_fill - 1
        if start and t_ms < self.t[-1]:
            t_ms = self.t[-1]
        price = self.price
        for _ in range(n):
            r = rng.random()
            if r < 0.2:
                price -= self.tick
            elif r > 0.8:
                price += self.tick
            if price < self.tick:
                price = self.tick
            qty = self.step * max(1, int(rng.paretovariate(1.5) * self.base_steps / 3))
            fills = 1 if rng.random() < 0.85 else rng.randint(2, 8)
            maker = rng.random() < 0.5
            if self.ff is not None:
                if rng.random() < SKIP_P:
                    prev_l += rng.randint(1, SKIP_MAX)
                self.ff.append(prev_l + 1)
            prev_l += fills
            self.p.append(price)
            self.q.append(qty)
            self.ll.append(prev_l)
            self.t.append(t_ms)
            self.e_delay.append(0)
            self.m.append(maker)
        self.price = price
        return range(start, start + n)

    def generate_history(self, start_ms: int, seconds: float) -> None:
        """Trades over the ``seconds`` before ``start_ms`` (REST only)."""
        if self.rate <= 0 or seconds <= 0:
            return
        t = self.next_gap()
        while t < seconds:
            n = self.group_size()
            self.add_group(n, start_ms - int((seconds - t) * 1000))
            t += self.next_gap()
        self.next_due = t - seconds

    # -- access -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.p)

    def first_f(self, i: int) -> int:
        if self.ff is not None:
            return self.ff[i]
        return self.ll[i - 1] + 1 if i else self.first_fill

    @property
    def last_id(self) -> int:
        return self.first_id + len(self.p) - 1

    def price_text(self, i: int) -> str:
        return fmt(self.p[i], self.p_digits)

    def qty_text(self, i: int) -> str:
        return fmt(self.q[i], self.q_digits)

    def frame(self, i: int, e_ms: int) -> bytes:
        """The raw aggTrade payload, byte-compatible with the market's recorded frames:
        spot ``e,E,s,a,p,q,f,l,T,m,M``, futures ``e,E,a,s,p,q,f,l,T,m``."""
        m = "true" if self.m[i] else "false"
        if self.futures:
            return (
                f'{{"e":"aggTrade","E":{e_ms},"a":{self.first_id + i},"s":"{self.symbol}",'
                f'"p":"{self.price_text(i)}","q":"{self.qty_text(i)}","f":{self.first_f(i)},'
                f'"l":{self.ll[i]},"T":{self.t[i]},"m":{m}}}'
            ).encode()
        return (
            f'{{"e":"aggTrade","E":{e_ms},"s":"{self.symbol}","a":{self.first_id + i},'
            f'"p":"{fmt8(self.p[i])}","q":"{fmt8(self.q[i])}","f":{self.first_f(i)},'
            f'"l":{self.ll[i]},"T":{self.t[i]},"m":{m},"M":true}}'
        ).encode()

    def rest_row(self, i: int) -> dict[str, Any]:
        """One element of an aggTrades reply (futures: no ``M``)."""
        row: dict[str, Any] = {
            "a": self.first_id + i,
            "p": self.price_text(i),
            "q": self.qty_text(i),
            "f": self.first_f(i),
            "l": self.ll[i],
            "T": self.t[i],
            "m": bool(self.m[i]),
        }
        if not self.futures:
            row["M"] = True
        return row

    def truth_row(self, i: int) -> dict[str, Any]:
        return {
            "s": self.symbol,
            "a": self.first_id + i,
            "p": self.price_text(i),
            "q": self.qty_text(i),
            "f": self.first_f(i),
            "l": self.ll[i],
            "T": self.t[i],
            "m": bool(self.m[i]),
            "E": self.t[i] + self.e_delay[i],
        }

    def index_at_time(self, t_ms: int) -> int:
        """First index with T >= t_ms."""
        return bisect.bisect_left(self.t, t_ms)

    def index_after_time(self, t_ms: int) -> int:
        """First index with T > t_ms."""
        return bisect.bisect_right(self.t, t_ms)
