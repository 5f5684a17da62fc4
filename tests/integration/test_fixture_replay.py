"""Recorded Binance spot frames, replayed byte for byte by an independent tiny server
(not our simulator), through the real ingester into a private Redis: every stored member
equals the raw JSON of its frame."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest
import trio

from orders_cli.config import RunConfig
from orders_cli.ingest.ingester import Ingester
from orders_cli.redis_conn import connect
from orders_cli.sources.registry import get_source
from orders_cli.store import gaps as gapops
from orders_cli.telemetry import Telemetry
from tests.datafiles import SPOT_FRAMES
from tests.integration.harness import KS
from tests.integration.replay_server import Frame, ReplayServer, load_frames, wait_for

pytestmark = pytest.mark.integration

FRAMES = str(SPOT_FRAMES)
SEED_ORDER = [
    "event_type", "event_time", "symbol", "agg_trade_id", "price", "quantity",
    "first_trade_id", "last_trade_id", "trade_time", "is_buyer_maker",
]  # fmt: skip


def _stored(r: Any, symbols: list[str]) -> dict[str, list[tuple[bytes, int]]]:
    return {s: r.zrange(KS.trades_latest(s), 0, -1, withscores=True) for s in symbols}


def _expected_gaps(frames: list[Frame]) -> dict[str, list[tuple[int, int]]]:
    """Holes between consecutive frames of one symbol (a symbol seen in two recordings)."""
    last: dict[str, int] = {}
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for f in frames:
        s, a = str(f.data["s"]), int(str(f.data["a"]))
        if s in last and a > last[s] + 1:
            out[s].append((last[s] + 1, a - 1))
        last[s] = max(a, last.get(s, a))
    return dict(out)


async def test_recorded_frames_are_stored_byte_for_byte(redis_server: Any) -> None:
    frames = load_frames(FRAMES)
    assert len(frames) == 3204
    server = ReplayServer(frames)
    client: Any = connect(redis_server.url)
    telemetry = Telemetry()
    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            await n.start(server.serve)
            cfg = RunConfig(
                redis_url=redis_server.url,
                ws_url=server.ws_url,
                rest_url=server.rest_url,
                backfill_s=0,
                sweep=False,
                listing_poll_s=0,
                prune_every_s=0,
            )
            ing = Ingester(cfg, get_source("spot"), client, telemetry)
            done = trio.Event()

            async def ingest() -> None:
                await ing.run()
                done.set()

            n.start_soon(ingest)
            await server.replayed.wait()
            await wait_for(lambda: telemetry.counters["trades_stored"] >= len(frames))
            ing.stop()
            await done.wait()
            n.cancel_scope.cancel()

    assert server.stats["ws_connections"] == 1
    assert server.stats["frames_sent"] == len(frames)
    assert telemetry.counters["malformed"] == 0
    assert telemetry.counters["duplicates"] == 0
    stored = _stored(client, server.symbols)
    by_id: dict[tuple[str, int], tuple[bytes, int]] = {}
    for symbol, members in stored.items():
        for raw, score in members:
            m = orjson.loads(raw)
            key = (symbol, int(m["agg_trade_id"]))
            assert key not in by_id, f"duplicate {key}"
            by_id[key] = (raw, int(score))
    assert len(by_id) == len(frames)
    for f in frames:
        d = f.data
        raw, score = by_id[(str(d["s"]), int(str(d["a"])))]
        m = orjson.loads(raw)
        assert list(m) == SEED_ORDER, raw
        assert m == {
            "event_type": "aggTrade",
            "event_time": d["E"],
            "symbol": d["s"],
            "agg_trade_id": str(d["a"]),
            "price": d["p"],
            "quantity": d["q"],
            "first_trade_id": d["f"],
            "last_trade_id": d["l"],
            "trade_time": d["T"],
            "is_buyer_maker": d["m"],
        }, f.raw
        # strings byte-equal to the wire: the exact bytes of the frame are in the member
        for field, wire_key in (("price", "p"), ("quantity", "q")):
            text = str(d[wire_key]).encode()
            assert b'"%s":"%s"' % (wire_key.encode(), text) in f.raw
            assert b'"%s":"%s"' % (field.encode(), text) in raw
        assert score == d["T"]
    # the stream carries each trade once too
    for symbol in server.symbols:
        ids = [int(fields[b"a"]) for _, fields in client.xrange(KS.trades_stream(symbol))]
        assert sorted(ids) == sorted(a for s, a in by_id if s == symbol), symbol
    # a symbol seen in two recordings has its hole recorded; nothing else is a gap
    want = _expected_gaps(frames)
    for symbol in server.symbols:
        gaps = gapops.decode_gaps(client.hget(KS.state(symbol), "gaps"))
        assert [(g.first, g.last) for g in gaps] == want.get(symbol, []), symbol
