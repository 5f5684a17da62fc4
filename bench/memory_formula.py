"""Redis bytes per stored trade at a 24 h steady state, as a formula of measured terms
(issue 18's memory claim):

    bytes/trade = zset + stream x (stream retention / 24 h) + sum over timeframes of
                  bar bytes x bars kept per trade kept

- ``zset``, ``stream``: ``MEMORY USAGE`` of every ``trades:{S}:latest`` / ``:stream`` over
  their members (a run of at least 10 minutes, so the busy symbols' keys are skiplists /
  many-node streams as at steady state);
- bar bytes: ``MEMORY USAGE`` of the 100 ms bar ZSETs over their members (the timeframe
  with the most members per key, skiplist-encoded like every timeframe at 24 h), used
  for every timeframe;
- bars kept per trade: bars are made per window with a trade, not per trade. 100 ms and
  1 m bars: the rate measured over the run x the timeframe's retention; 5 m and coarser:
  every active symbol has a bar in every window (an upper bound; true in the Zipf
  simulator at these rates), x the time kept at a 24 h steady state: min(retention, 24 h)
  (timeframes kept longer than the trades grow by the same amount each further day:
  ``bars_bytes_per_trade_per_extra_day``). Divided by the trades kept: stored rate x 24 h.
"""

from __future__ import annotations

from typing import Any

from orders_cli.timeframes import TABLE

DAY_S = 86400.0


def memory_formula(
    bytes_by_class: dict[str, int],
    members_by_class: dict[str, int],
    run_s: float,
    stored_per_s: float,
    active_symbols: int,
    stream_retention_s: float,
) -> dict[str, Any]:
    def per(cls: str) -> float:
        return bytes_by_class.get(cls, 0) / max(1, members_by_class.get(cls, 0))

    zset, stream, bar = per("trades_zset"), per("trades_stream"), per("stats:100ms")
    trades_kept = stored_per_s * DAY_S
    bars_term, extra_day = {}, 0.0
    for tf in TABLE:
        keep = DAY_S if tf.retention_s is None else min(DAY_S, tf.retention_s)
        if tf.ms <= 60_000:
            rate = members_by_class.get(f"stats:{tf.name}", 0) / max(1.0, run_s)
        else:
            rate = active_symbols / (tf.ms / 1000)
        bars_term[tf.name] = round(bar * rate * keep / max(1.0, trades_kept), 2)
        if tf.retention_s is None or tf.retention_s > DAY_S:
            extra_day += bar * rate * DAY_S / max(1.0, trades_kept)
    stream_share = stream_retention_s / DAY_S
    total = zset + stream * stream_share + sum(bars_term.values())
    return {
        "zset_bytes_per_trade": round(zset, 1),
        "stream_bytes_per_entry": round(stream, 1),
        "stream_share": round(stream_share, 4),
        "bar_bytes": round(bar, 1),
        "bars_bytes_per_trade_by_tf": bars_term,
        "bytes_per_trade_24h": round(total, 1),
        "bars_bytes_per_trade_per_extra_day": round(extra_day, 2),
    }
