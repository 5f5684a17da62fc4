"""One retention pass over every stored symbol: :func:`prune_once`.

Deletes in chunks of ``policy.chunk`` (each one Lua call or one command), so Redis never
blocks for more than a few ms; holds the prune lock so two passes never overlap; is
idempotent (a second pass at the same ``now_ms`` removes nothing) and safe to kill at any
point (what was deleted was past retention; what was not is deleted by the next pass).

Every cut is measured from ``min(now_ms, the newest stored trade time over all symbols)``
(:func:`~orders_cli.store.retention_policy.retention_now`): a wall clock that stepped forward never
deletes what is within retention of the data itself, and the report warns about it.

What goes, per symbol ``S`` (cutoff = ``now - keep``):
- ``trades:{S}:latest`` members with score (trade time) < cutoff (``policy.trades_s``);
- ``trades:{S}:stream`` entries with id < ``stream cutoff-0`` (XTRIM MINID; ids are ≥ trade
  time), at the stream's own, shorter retention (``policy.stream_s``, default 1 h): the
  stream is the log ``tail`` follows, the ZSET is the store ``verify`` checks;
- ``stats:{S}:<tf>`` bars with window start < ``now_ms - policy.bars_s[tf]``;
- exchange-side gap records (``gaps`` in the state hash) opened before the gap cutoff
  (compare-and-set of the JSON, bumping ``revision`` so the writer reloads);
and globally the malformed samples (JSON objects with ``at_ms``, newest first) older than
``policy.malformed_s``; samples without ``at_ms`` are left alone.

With ``archive_dir`` the trades about to go are first written to Parquet (see
:mod:`orders_cli.store.archive`) and only those written and fsynced are deleted; the stream
of a symbol is trimmed after its trades were archived (its cut is never older than theirs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Generator
from pathlib import Path
from typing import cast

import orjson
import redis

from orders_cli.errors import ArchiveError, RedisUnavailable
from orders_cli.models import MAX_TIME_MS, MIN_TIME_MS, Trade
from orders_cli.redis_errors import LOST, classify
from orders_cli.redis_types import RedisClient
from orders_cli.store import archive as arch
from orders_cli.store.info import held_symbols
from orders_cli.store.keys import Keyspace
from orders_cli.store.member import decode_member
from orders_cli.store.prune_lock import PruneLock
from orders_cli.store.query import stream_entries
from orders_cli.store.retention_policy import (
    PruneReport,
    RetentionPolicy,
    SymbolPrune,
    retention_now,
)

Progress = Callable[[str, int], None]  # (key, removed in this chunk)
Steps = Generator[bool, None, int]  # yields True between chunks, returns how many removed

_ZCHUNK = """
local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #m > 0 then redis.call('ZREM', KEYS[1], unpack(m)) end
return #m
"""
_GAPS_CAS = """
local cur = redis.call('HGET', KEYS[1], 'gaps')
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'gaps', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'revision', 1)
return 1
"""
_MALFORMED_CHUNK = """
local n = 0
while n < tonumber(ARGV[2]) do
  local raw = redis.call('LINDEX', KEYS[1], -1)
  if not raw then break end
  local ok, v = pcall(cjson.decode, raw)
  if not ok or type(v) ~= 'table' or type(v['at_ms']) ~= 'number' then break end
  if v['at_ms'] >= tonumber(ARGV[1]) then break end
  redis.call('RPOP', KEYS[1])
  n = n + 1
end
return n
"""
MAX_STREAM_SEQ = 18446744073709551615


def _eval_chunks(
    r: RedisClient, script: str, key: str, below: int | str, chunk: int, progress: Progress
) -> Steps:
    """Run ``script`` (it deletes at most ``chunk`` entries of ``key`` below ``below`` and
    returns how many) until a chunk comes back short, yielding between chunks; returns the
    total deleted."""
    total = 0
    while True:
        n = int(cast(int, r.eval(script, 1, key, below, chunk)))
        total += n
        if n:
            progress(key, n)
        if n < chunk:
            return total
        yield True


def _noop(key: str, n: int) -> None:
    return None


def _newest_trade_ms(r: RedisClient, keyspace: Keyspace, symbols: list[str]) -> int | None:
    """The newest ``last_trade_time`` the writer recorded over ``symbols`` (a time outside
    the bounds a trade can have, stored before they were checked, does not count)."""
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.hget(keyspace.state(s), "last_trade_time")
    newest = None
    for raw in pipe.execute():
        try:
            t = int(raw)
        except (TypeError, ValueError):
            continue
        if MIN_TIME_MS <= t < MAX_TIME_MS and (newest is None or t > newest):
            newest = t
    return newest


def _zset_prune(
    r: RedisClient, key: str, cutoff_ms: int, chunk: int, dry_run: bool, progress: Progress
) -> Steps:
    if dry_run:
        return int(r.zcount(key, "-inf", f"({cutoff_ms}"))
    return (yield from _eval_chunks(r, _ZCHUNK, key, f"({cutoff_ms}", chunk, progress))


def _stream_prune(
    r: RedisClient, key: str, cutoff_ms: int, chunk: int, dry_run: bool, progress: Progress
) -> Steps:
    if cutoff_ms <= 0:
        return 0
    minid = f"{cutoff_ms}-0"
    if dry_run:
        end = f"{cutoff_ms - 1}-{MAX_STREAM_SEQ}"
        return sum(1 for _ in stream_entries(r, key, "-", end, chunk=1000))
    total = 0
    while True:  # whole macro nodes, at most `chunk` entries per call
        n = int(r.xtrim(key, minid=minid, approximate=True, limit=chunk))
        total += n
        if n:
            progress(key, n)
        if n == 0:
            break
        yield True
    n = int(r.xtrim(key, minid=minid, approximate=False))  # the rest of one partial node
    if n:
        progress(key, n)
    return total + n


def _archive_trades(
    r: RedisClient,
    key: str,
    cutoff_ms: int,
    policy: RetentionPolicy,
    dry_run: bool,
    progress: Progress,
    root: Path,
    market: str,
    sp: SymbolPrune,
) -> int:
    members: dict[bytes, Trade] = {}
    undecodable = 0
    offset = 0
    while True:
        page = cast(
            list[bytes],
            r.zrangebyscore(key, "-inf", f"({cutoff_ms}", start=offset, num=policy.chunk),
        )
        for m in page:
            if m in members:
                continue
            try:
                members[m] = decode_member(m)
            except (ValueError, KeyError, TypeError):
                undecodable += 1
        offset += len(page)
        if len(page) < policy.chunk:
            break
    by_day: dict[str, list[bytes]] = defaultdict(list)
    for m, t in members.items():
        by_day[arch.utc_day(t.trade_time)].append(m)
    for day in sorted(by_day):
        group = by_day[day]
        if dry_run:
            sp.archived.append(str(arch.archive_path(root, market, sp.symbol, day)))
            continue
        path = arch.write_day(root, market, sp.symbol, day, [members[m] for m in group])
        sp.archived.append(str(path))
        for i in range(0, len(group), policy.chunk):  # only what is now on disk
            batch = group[i : i + policy.chunk]
            n = int(r.zrem(key, *batch))
            if n:
                progress(key, n)
    if undecodable:
        sp.error = f"{undecodable} trades could not be decoded: kept, not archived"
    return len(members)


def _gaps_prune(r: RedisClient, key: str, cutoff_ms: int, dry_run: bool) -> int:
    for _ in range(5):  # compare-and-set; retry if the writer changed the gaps meanwhile
        raw = r.hget(key, "gaps")
        if raw is None:
            return 0
        gaps = orjson.loads(raw)
        keep = [g for g in gaps if not (len(g) >= 4 and g[3] and int(g[2]) < cutoff_ms)]
        removed = len(gaps) - len(keep)
        if removed == 0 or dry_run:
            return removed
        if r.eval(_GAPS_CAS, 1, key, raw, orjson.dumps(keep)):
            return removed
    raise redis.ResponseError(f"{key}: gaps kept changing under the prune; retry later")


def _malformed_prune(
    r: RedisClient, key: str, cutoff_ms: int, chunk: int, dry_run: bool, progress: Progress
) -> Steps:
    if dry_run:
        count, end = 0, -1
        while True:
            page = r.lrange(key, end - chunk + 1, end)
            for raw in reversed(page):
                try:
                    at = orjson.loads(raw).get("at_ms")
                except (orjson.JSONDecodeError, AttributeError):
                    return count
                if not isinstance(at, int | float) or at >= cutoff_ms:
                    return count
                count += 1
            if len(page) < chunk:
                return count
            end -= chunk
    return (yield from _eval_chunks(r, _MALFORMED_CHUNK, key, cutoff_ms, chunk, progress))


def _prune_symbol(
    r: RedisClient,
    keyspace: Keyspace,
    symbol: str,
    now_ms: int,
    policy: RetentionPolicy,
    dry_run: bool,
    archive_dir: Path | None,
    progress: Progress,
    sp: SymbolPrune,
) -> Generator[bool, None, None]:
    """Prune one symbol into ``sp``; yields between chunks."""
    cutoff = policy.cutoff_ms(now_ms, policy.trades_s)
    try:
        latest = keyspace.trades_latest(symbol)
        if archive_dir is None:
            sp.trades = yield from _zset_prune(r, latest, cutoff, policy.chunk, dry_run, progress)
        else:
            market = arch.market_dir(keyspace.market_prefix)
            sp.trades = _archive_trades(
                r, latest, cutoff, policy, dry_run, progress, archive_dir, market, sp
            )
        stream = keyspace.trades_stream(symbol)
        stream_cut = policy.stream_cutoff_ms(now_ms)
        sp.stream = yield from _stream_prune(r, stream, stream_cut, policy.chunk, dry_run, progress)
        for tf, keep_s in policy.bars_s.items():
            if keep_s is None:
                continue
            bars_cut = policy.cutoff_ms(now_ms, keep_s)
            bars_key = keyspace.bars(symbol, tf)
            n = yield from _zset_prune(r, bars_key, bars_cut, policy.chunk, dry_run, progress)
            if n:
                sp.bars[tf] = n
        gaps_cut = policy.cutoff_ms(now_ms, policy.exchange_gaps_s)
        sp.gaps = _gaps_prune(r, keyspace.state(symbol), gaps_cut, dry_run)
    except redis.ResponseError as exc:
        if classify(exc).code != "OOM":  # a full Redis takes deletes, not the gaps' CAS
            sp.error = f"{type(exc).__name__}: {exc}"
    except (ArchiveError, orjson.JSONDecodeError) as exc:
        sp.error = f"{type(exc).__name__}: {exc}"


def prune_once(
    redis_client: RedisClient,
    keyspace: Keyspace,
    now_ms: int,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    archive_dir: Path | None = None,
    progress: Progress | None = None,
) -> PruneReport:
    """One retention pass (see the module doc). Raises :class:`~orders_cli.errors.LockHeld`
    if another prune runs, :class:`RedisUnavailable` if Redis goes away; per-symbol failures
    are in ``report.symbols[i].error`` (``report.ok`` is False)."""
    report = PruneReport(now_ms=now_ms, dry_run=dry_run)
    for _ in prune_steps(
        redis_client, keyspace, report, policy, archive_dir=archive_dir, progress=progress
    ):
        pass
    return report


def prune_steps(
    redis_client: RedisClient,
    keyspace: Keyspace,
    report: PruneReport,
    policy: RetentionPolicy,
    *,
    archive_dir: Path | None = None,
    progress: Progress | None = None,
) -> Generator[bool, None, None]:
    """:func:`prune_once` (at ``report.now_ms``, into ``report``) in bounded steps: yields
    True after each chunk, so the in-run pass can let the writer in between (run each
    ``next()`` in the Redis thread). Close it to stop early: the lock is released."""
    if archive_dir is not None:
        arch.require_pyarrow()
    cb = progress or _noop
    r, dry_run, now_ms = redis_client, report.dry_run, report.now_ms
    try:
        lock = PruneLock(r, keyspace.prune_lock(), policy.lock_ttl_ms)
        if not dry_run:
            lock.acquire()
        if lock.unlocked:
            report.notes.append(
                "Redis is out of memory and refused the prune lock; no other prune holds "
                "it: pruning without the lock"
            )
        try:
            symbols = sorted(held_symbols(r, keyspace))
            report.newest_trade_ms = _newest_trade_ms(r, keyspace, symbols)
            cut_now, warning = retention_now(now_ms, report.newest_trade_ms)
            report.cut_ms = cut_now
            if warning is not None:
                report.warnings.append(warning)
            for symbol in symbols:
                if lock.held:
                    lock.refresh()
                sp = SymbolPrune(symbol=symbol)
                yield from _prune_symbol(
                    r, keyspace, symbol, cut_now, policy, dry_run, archive_dir, cb, sp
                )
                report.symbols.append(sp)
            mal_cut = policy.cutoff_ms(cut_now, policy.malformed_s)
            report.malformed = yield from _malformed_prune(
                r, keyspace.malformed_samples(), mal_cut, policy.chunk, dry_run, cb
            )
        finally:
            lock.__exit__(None, None, None)
    except LOST as exc:
        raise RedisUnavailable(f"Redis went away during prune: {exc}") from exc
