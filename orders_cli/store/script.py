"""The apply script (store/lua/apply.lua) and the arguments it expects."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib import resources

import orjson

from orders_cli.models import Trade
from orders_cli.store.keys import TIMEFRAMES
from orders_cli.store.member import encode_member

APPLY_LUA: str = resources.files("orders_cli.store").joinpath("lua/apply.lua").read_text("utf-8")
APPLY_SHA: str = hashlib.sha1(APPLY_LUA.encode()).hexdigest()

Arg = bytes | str | int


def _flat(fields: Mapping[str, Arg]) -> list[str]:
    out: list[str] = []
    for k, v in fields.items():
        out.append(k)
        out.append(v.decode() if isinstance(v, bytes) else str(v))
    return out


def _trade_row(t: Trade) -> list[str]:
    tt = str(t.trade_time)
    return [
        tt,
        encode_member(t).decode(),
        str(t.agg_id),
        t.price,
        t.quantity,
        str(t.first_trade_id),
        str(t.last_trade_id),
        tt,
        "1" if t.is_buyer_maker else "0",
        str(t.event_time),
    ]


def apply_args(
    *,
    expected_revision: int,
    state_fields: Mapping[str, Arg],
    trades: Sequence[Trade],
    bars: Mapping[str, Sequence[tuple[int, bytes, bool]]],
    current_fields: Mapping[str, Arg],
    info_fields: Mapping[str, Arg],
) -> list[Arg]:
    """ARGV for one symbol's apply: the expected revision and one JSON document.
    ``bars[tf]`` holds ``(window_start, member, replace)``; ``replace`` = a bar for that
    window may already be stored and must be removed first."""
    doc = {
        "s": _flat(state_fields),
        "t": [_trade_row(t) for t in trades],
        "b": [
            [[str(ws), m.decode(), "1" if rep else "0"] for ws, m, rep in bars.get(tf, ())]
            for tf in TIMEFRAMES
        ],
        "c": _flat(current_fields),
        "i": _flat(info_fields),
    }
    return [expected_revision, orjson.dumps(doc)]
