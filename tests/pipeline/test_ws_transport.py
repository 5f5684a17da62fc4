"""The transport contract: what the shard relies on of a WebSocket connection, checked for
every client ``--ws-client`` can select (the wsproto one and trio-websocket), through
:func:`open_ws`, against a trio-websocket server on 127.0.0.1 port 0.

Both clients speak one error vocabulary (``orders_cli.ws.wsclient``): a close frame
or a lost connection is :class:`WsClosed` with its code, a refused handshake
:class:`WsHandshakeError` with its status, a handshake that never finishes
:class:`WsConnectTimeout`; every one of them is in the shard's ``RECONNECTABLE``.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio
import trio.testing
import trustme
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from orders_cli.pipeline.link import RECONNECTABLE
from orders_cli.ws.wsclient import WsClosed, WsConnectTimeout, WsHandshakeError
from orders_cli.ws.wsopen import WS_CLIENTS, WsClientKind, WsConn, open_ws

T = 10  # seconds: the bound on every test's I/O
CLOSE_TIMEOUT = 2.0  # what the shard allows aclose (it bounds the call itself)

Handler = Callable[[WebSocketRequest], Awaitable[None]]


@pytest.fixture(params=WS_CLIENTS)
def kind(request: pytest.FixtureRequest) -> WsClientKind:
    client: WsClientKind = request.param
    return client


async def serve(nursery: trio.Nursery, handler: Handler, tls: ssl.SSLContext | None = None) -> int:
    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, tls)
    port: int = server.port
    return port


async def connect(
    kind: WsClientKind,
    nursery: trio.Nursery,
    url: str,
    *,
    connect_timeout: float = T,
    ssl_context: ssl.SSLContext | None = None,
) -> WsConn:
    return await open_ws(
        kind, nursery, url, connect_timeout=connect_timeout, ssl_context=ssl_context
    )


async def read(conn: WsConn, count: int) -> list[str | bytes]:
    got: list[str | bytes] = []
    while len(got) < count:
        got.extend(await conn.get_messages())
    return got


async def test_connect_carries_the_path_and_messages_both_ways_in_order(
    kind: WsClientKind, nursery: trio.Nursery
) -> None:
    seen: dict[str, object] = {}
    closed = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        seen["path"] = request.path
        ws = await request.accept()
        for n in range(200):
            await ws.send_message(f"m{n}")
        seen["from_client"] = await ws.get_message()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            seen["close_code"] = exc.reason.code
        closed.set()

    port = await serve(nursery, handler)
    target = "/stream?streams=" + "/".join(f"s{n:04d}usdt@aggTrade" for n in range(300))
    with trio.fail_after(T):
        conn = await connect(kind, nursery, f"ws://127.0.0.1:{port}{target}")
        got = await read(conn, 200)
        await conn.send_message("hello")
        await conn.aclose(1000)
        await closed.wait()
    assert got == [f"m{n}" for n in range(200)]
    assert seen == {"path": target, "from_client": "hello", "close_code": 1000}


async def test_server_pings_are_answered_with_their_payload_while_the_caller_reads(
    kind: WsClientKind, nursery: trio.Nursery
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for n in range(3):  # returns once the pong with this payload came back
            await ws.ping(b"payload-%d" % n)
        await ws.send_message("pinged")
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    port = await serve(nursery, handler)
    with trio.fail_after(T):
        conn = await connect(kind, nursery, f"ws://127.0.0.1:{port}/")
        assert await read(conn, 1) == ["pinged"]
        await conn.aclose()


@pytest.mark.parametrize(("code", "reason"), [(1000, None), (1001, "shutdown"), (4001, "bye")])
async def test_a_close_frame_reaches_the_caller_with_its_code_after_earlier_messages(
    kind: WsClientKind, nursery: trio.Nursery, code: int, reason: str | None
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("last words")
        await ws.aclose(code, reason)

    port = await serve(nursery, handler)
    with trio.fail_after(T):
        conn = await connect(kind, nursery, f"ws://127.0.0.1:{port}/")
        assert await read(conn, 1) == ["last words"]
        with pytest.raises(WsClosed) as info:
            await conn.get_messages()
        with pytest.raises(WsClosed):  # and it stays closed
            await conn.send_message("too late")
        await conn.aclose()  # never raises on a closed connection
    assert (info.value.code, info.value.reason or None) == (code, reason)
    assert isinstance(info.value, RECONNECTABLE)


async def test_a_dropped_tcp_connection_is_1006(kind: WsClientKind, nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("hello")
        await ws._stream.aclose()  # no public "drop TCP" call in trio-websocket

    port = await serve(nursery, handler)
    with trio.fail_after(T):
        conn = await connect(kind, nursery, f"ws://127.0.0.1:{port}/")
        assert await read(conn, 1) == ["hello"]
        with pytest.raises(WsClosed) as info:
            await conn.get_messages()
        await conn.aclose()
    assert info.value.code == 1006


@pytest.mark.parametrize("status", [403, 429])
async def test_a_refused_handshake_is_a_handshake_error_with_status_and_body(
    kind: WsClientKind, nursery: trio.Nursery, status: int
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(status, body=b'{"code":-1003,"msg":"Too many requests"}')

    port = await serve(nursery, handler)
    with trio.fail_after(T), pytest.raises(WsHandshakeError) as info:
        await connect(kind, nursery, f"ws://127.0.0.1:{port}/stream")
    assert info.value.status == status
    assert "Too many requests" in info.value.body
    assert isinstance(info.value, RECONNECTABLE)


async def test_a_handshake_that_never_finishes_is_a_connect_timeout(
    kind: WsClientKind, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()  # accepts TCP, never answers the upgrade request

    listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(T), pytest.raises(WsConnectTimeout) as info:
        await connect(kind, nursery, f"ws://127.0.0.1:{port}/", connect_timeout=1.0)
    assert isinstance(info.value, RECONNECTABLE)


async def test_a_stalled_server_leaves_the_deadline_to_the_caller_and_closes_in_bounded_time(
    kind: WsClientKind, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A connection that goes silent neither invents a message nor an error: the shard's
    stall watchdog decides; then its bounded aclose gets the connection down."""
    server_saw_end = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("one")
        try:
            await ws.get_message()  # silent: it never sends again
        except ConnectionClosed:
            server_saw_end.set()

    port = await serve(nursery, handler)
    with trio.fail_after(T):
        conn = await connect(kind, nursery, f"ws://127.0.0.1:{port}/")
        assert await read(conn, 1) == ["one"]
        with trio.move_on_after(5.0) as watchdog:
            await conn.get_messages()
        with trio.move_on_after(CLOSE_TIMEOUT) as closing:
            await conn.aclose(1000)
        await server_saw_end.wait()
    assert watchdog.cancelled_caught
    assert not closing.cancelled_caught


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA, sni: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)
    ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    return ctx


def tls_client(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def test_wss_verifies_the_certificate_and_sends_sni(
    kind: WsClientKind, nursery: trio.Nursery, ca: trustme.CA
) -> None:
    sni: list[str | None] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("secret")
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    port = await serve(nursery, handler, tls_server(ca, sni))
    with trio.fail_after(T):
        url = f"wss://localhost:{port}/stream"
        conn = await connect(kind, nursery, url, ssl_context=tls_client(ca))
        assert await read(conn, 1) == ["secret"]
        await conn.aclose()
    assert sni[0] == "localhost"


async def test_wss_refuses_a_certificate_for_another_name(
    kind: WsClientKind,
    nursery: trio.Nursery,
    ca: trustme.CA,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Refused with an error that means "reconnect", within the connect timeout: the
    wsproto client at once (WsClosed 1015); trio-websocket 0.12 loses the TLS error in its
    reader task and waits out the timeout (WsConnectTimeout)."""

    async def handler(request: WebSocketRequest) -> None:
        await request.accept()

    port = await serve(nursery, handler, tls_server(ca, []))
    url = f"wss://127.0.0.1:{port}/"  # the certificate names "localhost"
    with trio.fail_after(T), pytest.raises((WsClosed, WsConnectTimeout)) as info:
        await connect(kind, nursery, url, connect_timeout=2.0, ssl_context=tls_client(ca))
    assert isinstance(info.value, RECONNECTABLE)
    if isinstance(info.value, WsClosed):
        assert info.value.code == 1015
