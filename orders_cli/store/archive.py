"""Parquet archive of pruned trades: one file per market, symbol and UTC day
(``DIR/<market>/<SYMBOL>/<YYYY-MM-DD>.parquet``), decimal128(38, 18) price/quantity (exact).

A file is replaced atomically: merged with what is already there (dedup by agg id, so a
prune killed after writing but before deleting just rewrites the same rows), written to a
temp file, fsynced, renamed, and the directory fsynced. pyarrow is the optional extra
``orders[archive]``; importing this module without it raises :class:`ArchiveUnavailable`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from orders_cli.errors import ArchiveError, ArchiveUnavailable, UsageError
from orders_cli.models import Trade


def _pa() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ArchiveUnavailable(
            "--archive needs pyarrow: pip install 'orders[archive]' (or pip install pyarrow)"
        ) from exc
    return pa, pq


def require_pyarrow() -> None:
    _pa()


DECIMAL = (38, 18)
COLUMNS = (
    "symbol",
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "trade_time",
    "is_buyer_maker",
    "event_time",
    "event_type",
)


def schema() -> Any:
    pa, _ = _pa()
    dec = pa.decimal128(*DECIMAL)
    return pa.schema(
        [
            ("symbol", pa.string()),
            ("agg_trade_id", pa.int64()),
            ("price", dec),
            ("quantity", dec),
            ("first_trade_id", pa.int64()),
            ("last_trade_id", pa.int64()),
            ("trade_time", pa.int64()),
            ("is_buyer_maker", pa.bool_()),
            ("event_time", pa.int64()),
            ("event_type", pa.string()),
        ]
    )


def utc_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def market_dir(market_prefix: str) -> str:
    return market_prefix.rstrip(":") or "spot"


UNSAFE_IN_NAME = ("/", "\\", "\x00")


def _component(name: str, what: str) -> str:
    """``name`` as one path component under the archive root, or :class:`ArchiveError`.

    Symbol names come from Redis, which anything with access to it can write: a name that
    is empty, ``.``/``..``, or holds a separator would build a path outside the root."""
    if name in ("", ".", "..") or any(c in name for c in UNSAFE_IN_NAME):
        raise ArchiveError(f"unsafe {what} name {name!r} for an archive path: not archived")
    return name


def archive_path(root: Path, market: str, symbol: str, day: str) -> Path:
    """``root/market/symbol/day.parquet``; :class:`ArchiveError` unless it stays under root."""
    parts = [_component(market, "market"), _component(symbol, "symbol"), _component(day, "day")]
    path = root.joinpath(*parts[:2], f"{parts[2]}.parquet")
    base = root.resolve()
    if base not in path.resolve().parents:
        raise ArchiveError(f"unsafe archive path {path}: it leaves {root}; not archived")
    return path


def _rows(trades: Iterable[Trade]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for t in trades:
        cols["symbol"].append(t.symbol)
        cols["agg_trade_id"].append(t.agg_id)
        cols["price"].append(Decimal(t.price))
        cols["quantity"].append(Decimal(t.quantity))
        cols["first_trade_id"].append(t.first_trade_id)
        cols["last_trade_id"].append(t.last_trade_id)
        cols["trade_time"].append(t.trade_time)
        cols["is_buyer_maker"].append(t.is_buyer_maker)
        cols["event_time"].append(t.event_time)
        cols["event_type"].append(t.event_type)
    return cols


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of one archive file (price/quantity as :class:`Decimal`)."""
    _, pq = _pa()
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise ArchiveError(f"cannot read {path}: {exc}") from exc
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_day(root: Path, market: str, symbol: str, day: str, trades: Sequence[Trade]) -> Path:
    """Merge ``trades`` into the day file (dedup by agg id, sorted) durably; return its path."""
    pa, pq = _pa()
    path = archive_path(root, market, symbol, day)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = pa.Table.from_pydict(_rows(trades), schema=schema())
        if path.exists():
            old = pq.read_table(path).cast(schema())
            new = pa.concat_tables([old, new])
        # dedup by agg id (first occurrence wins: the archived row), then sort
        ids = new.column("agg_trade_id").to_pylist()
        first: dict[int, int] = {}
        for i, a in enumerate(ids):
            first.setdefault(a, i)
        keep = sorted(first.values())
        new = new.take(pa.array(keep, type=pa.int64())).sort_by("agg_trade_id")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pq.write_table(new, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ArchiveError(f"cannot write archive {path}: {exc}") from exc
    return path


@attrs.frozen(slots=True)
class ArchiveFile:
    path: Path
    market: str
    symbol: str
    day: str
    rows: int
    first_agg_id: int | None
    last_agg_id: int | None
    problems: tuple[str, ...] = ()


def _inspect(path: Path, root: Path) -> ArchiveFile:
    rel = path.relative_to(root).parts
    rows = read_rows(path)
    ids = [r["agg_trade_id"] for r in rows]
    problems: list[str] = []
    if len(set(ids)) != len(ids):
        problems.append("duplicate agg ids")
    if ids != sorted(ids):
        problems.append("agg ids not sorted")
    day = path.stem
    if any(utc_day(r["trade_time"]) != day for r in rows):
        problems.append("rows outside the file's UTC day")
    if any(r["symbol"] != rel[1] for r in rows):
        problems.append("rows of another symbol")
    return ArchiveFile(
        path=path,
        market=rel[0],
        symbol=rel[1],
        day=day,
        rows=len(rows),
        first_agg_id=min(ids) if ids else None,
        last_agg_id=max(ids) if ids else None,
        problems=tuple(problems),
    )


def list_archive(root: Path) -> list[ArchiveFile]:
    """Every archive file under ``root`` with its row count, id range and problems."""
    if not root.is_dir():
        raise UsageError(f"archive directory {root} does not exist")
    return [_inspect(p, root) for p in sorted(root.glob("*/*/*.parquet"))]
