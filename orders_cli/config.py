"""Frozen settings of an ingest run (built by the CLI from options / ORDERS_* variables)."""

from __future__ import annotations

import os
import socket

import attrs

from orders_cli.timeframes import TIMEFRAMES

OVERLOAD_HOLD_S = 20.0
"""The shortest overload episode of a symbol (pipeline/outport.py explains 20 s)."""


def default_ingester_id() -> str:
    """``host-pid``: each running ingester has its own health key (two used to share
    ``orders:health:orders`` and overwrite each other's snapshot)."""
    return f"{socket.gethostname()}-{os.getpid()}"


@attrs.frozen(slots=True)
class RunConfig:
    redis_url: str
    market: str = "spot"
    ws_url: str | None = None  # None: the source's default (the real exchange)
    rest_url: str | None = None
    namespace: str = ""
    symbols: tuple[str, ...] = ()  # empty: every TRADING symbol of the market
    max_streams_per_connection: int | None = None  # None: the source's limit
    backfill_s: float = 24 * 3600.0  # 0 disables cold-start backfill
    channel_size: int = 50_000
    # once a symbol drops under overload, its trades are dropped for at least this long
    # (one gap per episode; the arithmetic is in pipeline/outport.py)
    overload_hold_s: float = OVERLOAD_HOLD_S
    batch_max: int = 20_000  # under load bigger batches amortise per-symbol work
    batch_s: float = 0.1
    reorder_s: float = 0.25
    stall_timeout_s: float = 60.0
    rotate_after_s: float | None = None  # None: the source's lifetime minus a margin
    listing_poll_s: float = 300.0
    regap_s: float = 30.0  # ask again for gaps still open after this long
    sweep: bool = True
    # a symbol quiet this long at most gets a head check (pipeline/silence.py; 0: off)
    silence_cap_s: float = 600.0
    health_interval_s: float = 2.0
    retention_s: float = 24 * 3600.0
    stream_retention_s: float = 3600.0  # the stream's own retention (never above retention_s)
    prune_every_s: float = 300.0  # 0: leave retention to `orders prune` (cron)
    rest_weight_fraction: float = 0.8
    ingester_id: str = attrs.field(factory=default_ingester_id)
    # bars maintained in the atomic apply (default: every timeframe; the finest feeds
    # stats:{S}:current)
    timeframes: tuple[str, ...] = TIMEFRAMES
    # coarse bars (all but the finest) rolled up at most this often per symbol (0: every
    # apply); crash-safe, see store/rollup.py
    rollup_s: float = 1.0
    # WebSocket client of the shards: "wsproto" (lean, default) or "trio-websocket" (fallback)
    ws_client: str = "wsproto"
