"""The apply script (store/lua/apply.lua) and the arguments it expects."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from importlib import resources

from orders_cli.models import Trade
from orders_cli.stats.codec import CURRENT_FIELDS
from orders_cli.store.member import encode_member
from orders_cli.timeframes import TIMEFRAMES

_SOURCE = resources.files("orders_cli.store").joinpath("lua/apply.lua").read_text("utf-8")
_PLACEHOLDER = "{--[[CURRENT_FIELDS]]}"
# a missing placeholder would leave CURRENT empty and the HSET would fail after the
# trades were written; a quote in a name would break the Lua: fail at import instead
if _SOURCE.count(_PLACEHOLDER) != 1:
    raise RuntimeError("store/lua/apply.lua must hold the CURRENT_FIELDS placeholder once")
if not all(re.fullmatch(r"[a-z_]+", f) for f in CURRENT_FIELDS):
    raise RuntimeError(f"CURRENT_FIELDS must be plain names: {CURRENT_FIELDS}")
APPLY_LUA: str = _SOURCE.replace(
    _PLACEHOLDER, "{" + ", ".join(f"'{f}'" for f in CURRENT_FIELDS) + "}"
)
"""The script, with ``stats:{S}:current``'s field names from :data:`CURRENT_FIELDS`
(one list for both sides: the writer sends only the values, 16 fewer arguments)."""
APPLY_SHA: str = hashlib.sha1(APPLY_LUA.encode()).hexdigest()

Arg = bytes | str | int


def _trade_args(t: Trade) -> tuple[Arg, ...]:
    return (
        t.trade_time,
        encode_member(t),
        t.agg_id,
        t.price,
        t.quantity,
        t.first_trade_id,
        t.last_trade_id,
        "1" if t.is_buyer_maker else "0",
        t.event_time,
    )


def apply_args(
    *,
    expected_revision: int,
    state_fields: Mapping[str, Arg],
    trades: Sequence[Trade],
    bars: Mapping[str, Sequence[tuple[int, bytes, bool]]],
    current_values: Sequence[Arg],
    info_fields: Mapping[str, Arg],
) -> list[Arg]:
    """ARGV for one symbol's apply, flat (see the header of lua/apply.lua).
    ``bars[tf]`` holds ``(window_start, member, replace)``; ``replace`` = a bar for that
    window may already be stored and must be removed first."""
    per_tf = [bars.get(tf, ()) for tf in TIMEFRAMES]
    out: list[Arg] = [
        expected_revision,
        len(trades),
        *(len(b) for b in per_tf),
        len(current_values),
        len(info_fields),
        len(state_fields),
    ]
    for t in trades:
        out.extend(_trade_args(t))
    for tf_bars in per_tf:
        for ws, member, replace in tf_bars:
            out.extend((ws, member, "1" if replace else "0"))
    if current_values:
        if len(current_values) != len(CURRENT_FIELDS):
            raise ValueError(
                f"{len(current_values)} current values for {len(CURRENT_FIELDS)} fields"
            )
        out.extend(current_values)
    for fields in (info_fields, state_fields):
        for k, v in fields.items():
            out.append(k)
            out.append(v)
    return out
