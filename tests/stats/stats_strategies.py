"""Hypothesis strategies for aggregate trades of one symbol (valid ids, T not monotone)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from orders_cli.models import Trade

MAX_PRICE_UNITS = 10**14  # 1e6 with 8 decimals
MAX_QTY_UNITS = 10**18  # 1e10 with 8 decimals


def units_str(units: int, padded: bool) -> str:
    """``123450000`` -> ``"1.23450000"`` (8 dp as Binance sends) or ``"1.2345"``."""
    s = format(Decimal(units).scaleb(-8), "f")
    if "." not in s:
        s += ".00000000"
    return s if padded else (s.rstrip("0").rstrip(".") or "0")


@st.composite
def trade_lists(draw: st.DrawFn, min_size: int = 1, max_size: int = 40) -> list[Trade]:
    """Consecutive agg ids with contiguous fill ids; ``T`` wanders (backwards too),
    mostly within seconds, sometimes across minute/hour/day boundaries."""
    n = draw(st.integers(min_size, max_size))
    agg = draw(st.integers(0, 10**12))
    fill = draw(st.integers(0, 10**12))
    t = draw(st.integers(0, 3 * 86_400_000))
    price_units = draw(st.integers(1, MAX_PRICE_UNITS))
    out: list[Trade] = []
    for i in range(n):
        if i:
            t += draw(
                st.one_of(
                    st.integers(-250, 250),  # T backwards / same 100 ms window
                    st.integers(0, 120_000),
                    st.sampled_from([3_600_000, 14_400_000, 86_400_000]),
                )
            )
            t = max(t, 0)
            if draw(st.booleans()):
                price_units = draw(st.integers(1, MAX_PRICE_UNITS))
        nfills = draw(st.integers(1, 5))
        qty = draw(st.one_of(st.integers(1, MAX_QTY_UNITS), st.integers(1, 10**9)))
        out.append(
            Trade(
                symbol="BTCUSDT",
                agg_id=agg + i,
                price=units_str(price_units, draw(st.booleans())),
                quantity=units_str(qty, True),
                first_trade_id=fill,
                last_trade_id=fill + nfills - 1,
                trade_time=t,
                is_buyer_maker=draw(st.booleans()),
                event_time=t + draw(st.integers(0, 3_000)),
            )
        )
        fill += nfills
    return out
