"""The apply script (store/lua/apply.lua) and the ARGV it expects."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib import resources

from orders_cli.models import Trade
from orders_cli.store.keys import TIMEFRAMES
from orders_cli.store.member import encode_member

APPLY_LUA: str = resources.files("orders_cli.store").joinpath("lua/apply.lua").read_text("utf-8")
APPLY_SHA: str = hashlib.sha1(APPLY_LUA.encode()).hexdigest()

Arg = bytes | str | int


def _pairs(out: list[Arg], fields: Mapping[str, Arg]) -> None:
    out.append(len(fields))
    for k, v in fields.items():
        out.append(k)
        out.append(v)


def apply_args(
    *,
    expected_revision: int,
    state_fields: Mapping[str, Arg],
    trades: Sequence[Trade],
    bars: Mapping[str, Sequence[tuple[int, bytes]]],
    current_fields: Mapping[str, Arg],
    info_fields: Mapping[str, Arg],
) -> list[Arg]:
    """ARGV for one symbol's apply, in the layout the script documents."""
    out: list[Arg] = [expected_revision]
    _pairs(out, state_fields)
    out.append(len(trades))
    for t in trades:
        out += (
            t.trade_time,
            encode_member(t),
            t.agg_id,
            t.price,
            t.quantity,
            t.first_trade_id,
            t.last_trade_id,
            t.trade_time,
            "1" if t.is_buyer_maker else "0",
            t.event_time,
        )
    for tf in TIMEFRAMES:
        tf_bars = bars.get(tf, ())
        out.append(len(tf_bars))
        for ws, member in tf_bars:
            out.append(ws)
            out.append(member)
    _pairs(out, current_fields)
    _pairs(out, info_fields)
    return out
