"""Redis side of ``orders verify`` (sync redis-py, run in a worker thread): check the asked
symbols are stored, read one symbol's stored ids and stream ids, record holes as gaps,
repair through the writer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import attrs
import redis
import redis.exceptions

from orders_cli.clock import now_ms
from orders_cli.errors import RedisUnavailable, StateConflict
from orders_cli.messages import Backfilled, ExchangeHole, WriterInput
from orders_cli.models import Gap, Trade
from orders_cli.ops.symbols import resolve_symbols
from orders_cli.ops.verify_ids import IdRange, clip, subtract, to_ranges_merge
from orders_cli.redis_errors import LOST
from orders_cli.redis_types import RedisClient
from orders_cli.store import gaps as gapops
from orders_cli.store.info import held_symbols
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member, decode_stream_fields, encode_member
from orders_cli.store.planner import PlanConfig
from orders_cli.store.processor import Processor
from orders_cli.store.query import Entry, stream_entries, zset_members

CHUNK = 20_000
REPAIR_BATCH = 5_000


@attrs.frozen(slots=True)
class StoredIds:
    """What one symbol holds from ``since_ms - margin`` on."""

    zset: list[tuple[int, int]]  # (agg_id, trade_time), score order
    stream: list[tuple[int, int]]  # (agg_id, trade_time) of entries with id ms >= edge
    stream_first_ms: int | None  # ms of the oldest stream entry (None: empty stream)
    gaps: list[Gap]
    watermark: int | None


def _stream_entries(r: RedisClient, key: str, from_ms: int) -> Iterator[Entry]:
    return stream_entries(r, key, f"{max(0, from_ms)}-0", chunk=CHUNK)


def read_stored(r: RedisClient, ks: Keyspace, symbol: str, lo_ms: int, margin_ms: int) -> StoredIds:
    """ZSET ids from ``lo_ms - margin_ms`` on, then stream ids (read after the ZSET, so a
    trade written meanwhile is in the stream, not missing from it)."""
    try:
        latest = ks.trades_latest(symbol)
        zset = [
            (int(decode_member(m).agg_id), int(score))
            for m, score in zset_members(r, latest, lo_ms - margin_ms, chunk=CHUNK)
        ]
        first = cast(list[tuple[bytes, Any]], r.xrange(ks.trades_stream(symbol), count=1))
        first_ms = int(first[0][0].split(b"-")[0]) if first else None
        stream = [
            (int(f[b"a"]), int(f[b"T"]))
            for _, f in _stream_entries(r, ks.trades_stream(symbol), lo_ms - margin_ms)
        ]
        wm, raw_gaps = r.hmget(ks.state(symbol), ["watermark", "gaps"])
    except LOST as exc:
        raise RedisUnavailable(f"lost Redis: {exc}") from exc
    return StoredIds(
        zset=zset,
        stream=stream,
        stream_first_ms=first_ms,
        gaps=gapops.decode_gaps(raw_gaps),
        watermark=int(wm) if wm else None,
    )


def known(r: RedisClient, ks: Keyspace, symbols: list[str]) -> list[str]:
    """``symbols`` upper-cased; :class:`UsageError` naming close matches (as ``orders
    tail`` does) if one is not in ``Keyspace.symbols()``."""
    try:
        return resolve_symbols(r, ks, symbols)
    except LOST as exc:
        raise RedisUnavailable(f"lost Redis: {exc}") from exc


def stored_symbols(r: RedisClient, ks: Keyspace) -> list[str]:
    try:
        return sorted(held_symbols(r, ks))
    except LOST as exc:
        raise RedisUnavailable(f"lost Redis: {exc}") from exc


def record_gaps(r: RedisClient, ks: Keyspace, symbol: str, ranges: Sequence[IdRange]) -> int:
    """Add ``ranges`` (the parts at or below the watermark not already in a gap) to the
    symbol's open gaps and bump its revision, atomically (WATCH): a running writer then
    reloads the state and backfills them, and our own repair may fill them. Returns how
    many ids were added."""
    key = ks.state(symbol)
    added = 0

    def txn(pipe: Any) -> None:
        nonlocal added
        rev, wm, raw = pipe.hmget(key, ["revision", "watermark", "gaps"])
        if not wm:
            added = 0
            return
        gaps = gapops.decode_gaps(raw)
        covered = to_ranges_merge(IdRange(g.first, g.last) for g in gaps)
        new = subtract(clip(to_ranges_merge(ranges), None, int(wm)), covered)
        added = sum(g.size for g in new)
        if not new:
            return
        now = now_ms()
        for g in new:
            gapops.open_gap(gaps, Gap(g.first, g.last, now))
        pipe.multi()
        pipe.hset(key, mapping={"gaps": gapops.encode_gaps(gaps), "revision": int(rev or 0) + 1})

    try:
        r.transaction(txn, key)
    except redis.exceptions.WatchError as exc:  # transaction() retries; not expected
        raise StateConflict(f"state of {symbol} keeps changing") from exc
    except LOST as exc:
        raise RedisUnavailable(f"lost Redis: {exc}") from exc
    return added


def restore_from_stream(
    r: RedisClient, ks: Keyspace, symbol: str, ids: set[int], from_ms: int
) -> int:
    """ZSET members of ``ids`` (trades the stream has and the ZSET lost) rebuilt from their
    stream entries, byte for byte what the writer stored; the stream is only read, never
    appended to. Returns how many members were added."""
    want = set(ids)
    key = ks.trades_latest(symbol)
    added = 0
    for _, fields in _stream_entries(r, ks.trades_stream(symbol), from_ms):
        if not want:
            break
        if int(fields[b"a"]) in want:
            t = decode_stream_fields(symbol, fields)
            want.discard(t.agg_id)
            added += int(cast(int, r.zadd(key, {encode_member(t): t.trade_time}, nx=True)))
    return added


def repair(
    r: RedisClient,
    ks: Keyspace,
    symbol: str,
    trades: Sequence[Trade],
    exchange_side: Sequence[IdRange],
    first_agg_id: int,
) -> int:
    """Apply REST ``trades`` through the writer (``Processor`` + ``Backfilled``) after
    recording their ids (and the exchange-side ranges) as gaps, then mark the
    exchange-side ranges. Returns how many trades were stored."""
    ordered = sorted({t.agg_id: t for t in trades}.values(), key=lambda t: t.agg_id)
    wanted = to_ranges_merge([IdRange(t.agg_id, t.agg_id) for t in ordered] + list(exchange_side))
    record_gaps(r, ks, symbol, wanted)
    proc = Processor(r, ks, PlanConfig(first_agg_id=first_agg_id, cold_start=False))
    stored = 0
    for i in range(0, len(ordered), REPAIR_BATCH):
        batch = tuple(ordered[i : i + REPAIR_BATCH])
        out = proc.process([Backfilled(symbol, batch)], flush=True)
        stored += out.counters["trades_stored"]
    if exchange_side:
        holes: list[WriterInput] = [ExchangeHole(symbol, g.first, g.last) for g in exchange_side]
        proc.process(holes, flush=True)
    return stored
