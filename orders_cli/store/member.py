"""The stored forms of a trade: the ZSET member JSON (seed schema, exact field order) and
the stream entry fields. Both are built and read only here.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from orders_cli.models import Trade

MEMBER_FIELDS: tuple[str, ...] = (
    "event_type",
    "event_time",
    "symbol",
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "trade_time",
    "is_buyer_maker",
)


def encode_member(t: Trade) -> bytes:
    """The ``trades:{S}:latest`` member: JSON with exactly the seed's fields in order.
    ``agg_trade_id`` is a string; price/quantity are the strings as sent."""
    return orjson.dumps(
        {
            "event_type": t.event_type,
            "event_time": t.event_time,
            "symbol": t.symbol,
            "agg_trade_id": str(t.agg_id),
            "price": t.price,
            "quantity": t.quantity,
            "first_trade_id": t.first_trade_id,
            "last_trade_id": t.last_trade_id,
            "trade_time": t.trade_time,
            "is_buyer_maker": t.is_buyer_maker,
        }
    )


def decode_member(raw: bytes | str) -> Trade:
    d = orjson.loads(raw)
    return Trade(
        symbol=d["symbol"],
        agg_id=int(d["agg_trade_id"]),
        price=d["price"],
        quantity=d["quantity"],
        first_trade_id=d["first_trade_id"],
        last_trade_id=d["last_trade_id"],
        trade_time=d["trade_time"],
        is_buyer_maker=d["is_buyer_maker"],
        event_time=d["event_time"],
        event_type=d["event_type"],
    )


def stream_fields(t: Trade) -> list[bytes | str]:
    """Flat field/value list of a ``trades:{S}:stream`` entry (the symbol is in the key)."""
    return [
        "a", str(t.agg_id),
        "p", t.price,
        "q", t.quantity,
        "f", str(t.first_trade_id),
        "l", str(t.last_trade_id),
        "T", str(t.trade_time),
        "m", "1" if t.is_buyer_maker else "0",
        "E", str(t.event_time),
    ]  # fmt: skip


def decode_stream_fields(symbol: str, fields: Mapping[bytes, bytes]) -> Trade:
    """Inverse of :func:`stream_fields` (keys/values as redis-py returns them)."""
    return Trade(
        symbol=symbol,
        agg_id=int(fields[b"a"]),
        price=fields[b"p"].decode(),
        quantity=fields[b"q"].decode(),
        first_trade_id=int(fields[b"f"]),
        last_trade_id=int(fields[b"l"]),
        trade_time=int(fields[b"T"]),
        is_buyer_maker=fields[b"m"] == b"1",
        event_time=int(fields[b"E"]),
    )
