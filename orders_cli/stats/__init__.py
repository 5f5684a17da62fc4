"""Exact multi-timeframe bars: the writer's integer bars (:mod:`.fixed`), the ``Decimal``
bars and their reference (:mod:`.bars`), stored forms (:mod:`.codec`), checks
(:mod:`.check`), retention (:mod:`.retention`).

The writer's API is re-exported here: ``from orders_cli.stats import bars_for_batch, ...``.
"""

from orders_cli.stats.bars import (
    DECIMAL_CONTEXT,
    VWAP_PLACES,
    Bar,
    bars_from_trades_reference,
    window_start,
)
from orders_cli.stats.codec import current_fields, decode_bar, encode_bar
from orders_cli.stats.fixed import FixedBar, bars_for_batch, merge_bars
from orders_cli.timeframes import TF_MS

__all__ = [
    "DECIMAL_CONTEXT",
    "TF_MS",
    "VWAP_PLACES",
    "Bar",
    "FixedBar",
    "bars_for_batch",
    "bars_from_trades_reference",
    "current_fields",
    "decode_bar",
    "encode_bar",
    "merge_bars",
    "window_start",
]
