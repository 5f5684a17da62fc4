"""The bar member's fast template encoder against the obvious orjson form."""

from __future__ import annotations

import orjson
from hypothesis import given, settings

from orders_cli.models import Trade
from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import BAR_FIELDS, decode_bar, encode_bar, fmt_decimal
from orders_cli.stats.fixed import bars_for_batch
from tests.stats.stats_strategies import trade_lists


def _obvious(bar: Bar) -> bytes:
    d = bar._asdict()
    d["vwap"] = bar.vwap
    return orjson.dumps(
        {k: fmt_decimal(d[k]) if not isinstance(d[k], int) else d[k] for k in BAR_FIELDS}
    )


@settings(max_examples=200)
@given(trade_lists(max_size=30))
def test_member_is_byte_for_byte_the_orjson_dict(trades: list[Trade]) -> None:
    for by_ws in bars_for_batch(trades).values():
        for fixed in by_ws.values():
            bar = fixed.to_bar()
            raw = encode_bar(bar)
            assert raw == encode_bar(fixed) == _obvious(bar)
            assert decode_bar(raw) == bar
