"""Faults: a trade dropped/stalled/malformed live is still in truth and REST; duplicates,
out-of-order bursts and TCP aborts happen as configured."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from orders_cli.sim import Faults, FaultSpec
from tests.sim.simhelpers import running, small_config


async def _collect(ws: WebSocketConnection, n: int) -> list[bytes]:
    out = []
    with trio.fail_after(10):
        while len(out) < n:
            msg = await ws.get_message()
            out.append(msg.encode() if isinstance(msg, str) else msg)
    return out


def _parse(frames: list[bytes]) -> tuple[list[dict[str, Any]], int]:
    good, bad = [], 0
    for f in frames:
        try:
            obj = orjson.loads(f)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if "a" not in obj or not isinstance(obj.get("p"), str):
            bad += 1
            continue
        good.append(obj)
    return good, bad


async def test_dropped_trades_are_in_truth_and_rest() -> None:
    cfg = small_config(faults=Faults(drop=FaultSpec(rate=0.2)))
    async with running(cfg) as sim:
        async with open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
            frames, _ = _parse(await _collect(ws, 150))
        sim.stop_trading()
        ids = [f["a"] for f in frames]
        missing = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids))
        assert missing and sim.stats["dropped"] > 0
        truth = {r["a"]: r for r in sim.truth_by_symbol()["BTCUSDT"]}
        assert all(a in truth for a in missing)
        async with httpx.AsyncClient(base_url=sim.rest_url) as client:
            with trio.fail_after(5):
                r = await client.get(
                    "/api/v3/aggTrades",
                    params={"symbol": "BTCUSDT", "fromId": missing[0], "limit": 1},
                )
        row = r.json()[0]
        assert row["a"] == missing[0] and row["p"] == truth[missing[0]]["p"]


async def test_duplicates_and_malformed() -> None:
    faults = Faults(duplicate=FaultSpec(rate=0.1), malformed=FaultSpec(rate=0.1))
    async with running(small_config(faults=faults)) as sim:
        async with open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
            good, bad = _parse(await _collect(ws, 300))
        ids = [f["a"] for f in good]
        assert len(ids) > len(set(ids))  # duplicates
        assert bad > 0 and sim.stats["malformed"] > 0
        truth_ids = [r["a"] for r in sim.truth_by_symbol()["BTCUSDT"]]
        assert truth_ids == list(range(truth_ids[0], truth_ids[0] + len(truth_ids)))


async def test_out_of_order_equal_t_bursts() -> None:
    faults = Faults(reorder_burst=FaultSpec(rate=1.0))
    async with running(small_config(faults=faults)) as sim:
        async with open_websocket_url(sim.ws_url + "/ws/ethusdt@aggTrade") as ws:
            good, _ = _parse(await _collect(ws, 200))
        backwards = [(p, c) for p, c in itertools.pairwise(good) if c["a"] < p["a"]]
        assert backwards and sim.stats["reordered_bursts"] > 0
        assert all(p["T"] == c["T"] for p, c in backwards)  # only inside an equal-T burst


async def test_stall_keeps_pings_but_no_data() -> None:
    faults = Faults(stall=FaultSpec(at=(0.2,)), stall_s=0.8)
    cfg = small_config(faults=faults, ping_interval_s=0.3, pong_timeout_s=1.0)
    async with running(cfg) as sim:
        async with open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
            prev = None
            gap_seen = 0.0
            with trio.fail_after(10):
                while trio.current_time() - sim.engine.t0 < 1.5:
                    msg = orjson.loads(await ws.get_message())
                    now = trio.current_time()
                    if prev is not None:
                        gap_seen = max(gap_seen, now - prev)
                    prev = now
        assert sim.stats["stalls"] == 1
        assert gap_seen > 0.5
        assert sim.stats["closed_pong"] == 0 and sim.stats["pings_sent"] >= 3
        assert msg["e"] == "aggTrade"


async def test_abort_resets_the_connection() -> None:
    faults = Faults(abort=FaultSpec(at=(0.2,)))
    async with running(small_config(faults=faults)) as sim:
        async with open_websocket_url(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
            with trio.fail_after(5), pytest.raises(ConnectionClosed) as info:
                while True:
                    await ws.get_message()
        assert info.value.reason is not None and info.value.reason.code == 1006
        assert sim.stats["aborts"] == 1


async def test_scheduled_listing_and_break() -> None:
    from orders_cli.sim import SymbolSpec

    faults = Faults(
        listings=((0.1, SymbolSpec("LATEUSDT", rate=100.0, first_id=0, price="3.00000000")),),
        status_changes=((0.1, "ETHUSDT", "BREAK"),),
    )
    async with running(small_config(faults=faults)) as sim:
        async with open_websocket_url(sim.ws_url + "/ws/lateusdt@aggTrade") as ws:
            frames, _ = _parse(await _collect(ws, 3))
        assert frames[0]["a"] == 0
        assert sim.engine.books["ETHUSDT"].status == "BREAK"


async def test_rest_error_fault() -> None:
    faults = Faults(rest_error=FaultSpec(at=(0.0,)), rest_error_status=503)
    async with running(small_config(faults=faults)) as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as client:
            with trio.fail_after(5):
                first = await client.get("/api/v3/ping")
                second = await client.get("/api/v3/ping")
        assert (first.status_code, second.status_code) == (503, 200)
        assert "X-MBX-USED-WEIGHT-1M" in first.headers
        assert sim.stats["rest_5xx"] == 1
