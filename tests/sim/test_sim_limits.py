"""Every limit is enforced: stream cap, message rate, pong deadline, lifetime with
serverShutdown, connection attempts per IP, REST weight 429 -> 418."""

from __future__ import annotations

import httpx
import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url
from wsproto.events import AcceptConnection, CloseConnection, Ping

from tests.sim.futhelpers import futures_config
from tests.sim.simhelpers import RawWs, running, small_config


async def _closed_code(ws: object) -> int:
    """Read until the server closes; return the close code."""
    with trio.fail_after(5), pytest.raises(ConnectionClosed) as info:
        while True:
            await ws.get_message()  # type: ignore[attr-defined]  # a WebSocketConnection
    reason = info.value.reason
    assert reason is not None
    return int(reason.code)


async def test_stream_cap_closes_connection() -> None:
    cfg = small_config(max_streams=3)
    async with running(cfg) as sim, open_websocket_url(sim.ws_url + "/ws/a@aggTrade") as ws:
        sub = {"method": "SUBSCRIBE", "params": ["b@aggTrade", "c@aggTrade"], "id": 1}
        await ws.send_message(orjson.dumps(sub).decode())
        with trio.fail_after(5):
            assert orjson.loads(await ws.get_message()) == {"result": None, "id": 1}
        sub = {"method": "SUBSCRIBE", "params": ["d@aggTrade"], "id": 2}
        await ws.send_message(orjson.dumps(sub).decode())
        assert await _closed_code(ws) == 1008
        assert sim.stats["closed_streams"] == 1


async def test_stream_cap_on_the_url() -> None:
    cfg = small_config(max_streams=2)
    url = "/stream?streams=a@aggTrade/b@aggTrade/c@aggTrade"
    async with running(cfg) as sim, open_websocket_url(sim.ws_url + url) as ws:
        assert await _closed_code(ws) == 1008


@pytest.mark.parametrize(
    ("market", "path", "per_s"),
    [("spot", "/ws", 5), ("usdm", "/market/ws", 10), ("coinm", "/ws", 10)],
)
async def test_message_rate_closes_connection(market: str, path: str, per_s: int) -> None:
    cfg = small_config() if market == "spot" else futures_config(market)
    async with running(cfg) as sim, open_websocket_url(sim.ws_url + path) as ws:
        with trio.fail_after(5):
            for i in range(per_s + 1):
                await ws.send_message(
                    orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode()
                )
        replies = 0
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as info:
            while True:
                assert orjson.loads(await ws.get_message())["id"] == replies
                replies += 1
        assert replies == per_s  # the next message closed the connection instead
        assert info.value.reason is not None and info.value.reason.code == 1008
        assert sim.stats["closed_rate"] == 1


async def test_five_messages_per_second_are_fine() -> None:
    async with running() as sim, open_websocket_url(sim.ws_url + "/ws") as ws:
        for i in range(5):
            await ws.send_message(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
            with trio.fail_after(5):
                assert orjson.loads(await ws.get_message())["id"] == i
        assert sim.stats["closed_rate"] == 0


async def test_pings_count_toward_the_message_rate() -> None:
    async with running() as sim, open_websocket_url(sim.ws_url + "/ws") as ws:
        with trio.fail_after(5):
            for i in range(4):
                await ws.ping(f"c{i}".encode())
        await ws.send_message('{"method":"LIST_SUBSCRIPTIONS","id":1}')
        with trio.fail_after(5):
            assert orjson.loads(await ws.get_message()) == {"result": [], "id": 1}
        await ws.send_message('{"method":"LIST_SUBSCRIPTIONS","id":2}')
        assert await _closed_code(ws) == 1008
        assert sim.stats["closed_rate"] == 1


async def test_server_pings_and_pong_deadline() -> None:
    cfg = small_config(ping_interval_s=0.2, pong_timeout_s=0.3)
    async with running(cfg) as sim:  # noqa: SIM117  # the comment explains the inner one
        # a well-behaved client (trio-websocket answers pings while idle) stays connected
        async with open_websocket_url(sim.ws_url + "/ws/idleusdt@aggTrade") as good:
            raw = await RawWs.connect(sim.ws_port, "/ws")
            pings: list[bytes] = []
            closed = None
            with trio.fail_after(5):
                while closed is None:
                    events = await raw.events()
                    assert events or pings, "EOF before any ping"
                    for ev in events:
                        if isinstance(ev, Ping):
                            pings.append(bytes(ev.payload))
                        elif isinstance(ev, CloseConnection):
                            closed = ev.code
                        else:
                            assert isinstance(ev, AcceptConnection)
                    if not events:
                        break
            assert pings and pings[0]  # pings carry a payload
            assert closed == 1008
            assert sim.stats["closed_pong"] == 1
            await good.send_message('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            with trio.fail_after(5):
                assert orjson.loads(await good.get_message())["id"] == 1


async def test_lifetime_sends_server_shutdown_then_closes() -> None:
    cfg = small_config(lifetime_s=0.6, shutdown_lead_s=0.3)
    for path, combined in (("/ws/idleusdt@aggTrade", False), ("/stream", True)):
        async with running(cfg) as sim, open_websocket_url(sim.ws_url + path) as ws:
            with trio.fail_after(5):
                msg = orjson.loads(await ws.get_message())
            if combined:
                assert msg["stream"] == "!serverShutdown"
                msg = msg["data"]
            assert list(msg) == ["e", "E"] and msg["e"] == "serverShutdown"
            assert await _closed_code(ws) == 1001
            assert sim.stats["closed_lifetime"] == 1


async def test_connection_attempts_per_ip() -> None:
    cfg = small_config(max_connect_attempts=3, connect_window_s=60)
    async with running(cfg) as sim:
        for _ in range(3):
            with trio.fail_after(5):
                async with open_websocket_url(sim.ws_url + "/ws"):
                    pass
        with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
            async with open_websocket_url(sim.ws_url + "/ws"):
                pass
        assert info.value.status_code == 429
        assert sim.stats["ws_rejected_429"] == 1


async def test_rest_weight_429_then_418_ban() -> None:
    cfg = small_config(weight_budget=10, calls_after_429_to_ban=2, ban_s=300)
    async with running(cfg) as sim, httpx.AsyncClient(base_url=sim.rest_url) as client:
        for i in range(10):
            with trio.fail_after(5):
                r = await client.get("/api/v3/ping")
            assert r.status_code == 200
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == str(i + 1)
        with trio.fail_after(5):
            r = await client.get("/api/v3/ping")
        assert r.status_code == 429
        assert r.json()["code"] == -1003
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "10"
        with trio.fail_after(5):
            r = await client.get("/api/v3/ping")  # calling on within Retry-After
        assert r.status_code == 429
        with trio.fail_after(5):
            r = await client.get("/api/v3/ping")
        assert r.status_code == 418
        assert 200 < int(r.headers["Retry-After"]) <= 300
        with trio.fail_after(5):
            r = await client.get("/api/v3/time")
        assert r.status_code == 418 and r.json()["code"] == -1003
        assert sim.stats["rest_429"] == 2 and sim.stats["rest_418"] == 2


async def test_weight_window_resets() -> None:
    cfg = small_config(weight_budget=2, weight_window_s=0.5)
    async with running(cfg) as sim, httpx.AsyncClient(base_url=sim.rest_url) as client:
        with trio.fail_after(5):
            codes = [(await client.get("/api/v3/ping")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        retry = 1  # Retry-After is whole seconds; wait it out as a client must
        await trio.sleep(retry)
        with trio.fail_after(5):
            assert (await client.get("/api/v3/ping")).status_code == 200


async def test_configured_retry_after() -> None:
    cfg = small_config(weight_budget=1, retry_after_s=7)
    async with running(cfg) as sim, httpx.AsyncClient(base_url=sim.rest_url) as client:
        with trio.fail_after(5):
            codes = [(await client.get("/api/v3/ping")) for _ in range(2)]
        assert [r.status_code for r in codes] == [200, 429]
        assert codes[1].headers["Retry-After"] == "7"
