"""The wsproto client against a trio-websocket server (and a raw wsproto server where
trio-websocket cannot send what we need: fragments, frames glued to the 101 response)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Request, TextMessage

from orders_cli.ws.wsclient import (
    WsClient,
    WsClosed,
    WsConnectTimeout,
    WsHandshakeError,
    connect,
)

Handler = Callable[[WebSocketRequest], Awaitable[None]]
T = 10  # seconds: the bound on every test's I/O


async def tw_server(nursery: trio.Nursery, handler: Handler, ssl_context: object = None) -> int:
    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, ssl_context)
    port: int = server.port
    return port


RawHandler = Callable[[trio.SocketStream, WSConnection], Awaitable[None]]


async def raw_server(
    nursery: trio.Nursery, handler: RawHandler, seen: list[Request] | None = None
) -> int:
    """A bare wsproto server: ``handler(stream, ws)`` gets the request already parsed
    (appended to ``seen``) and must send the 101 itself (so it can glue frames to it)."""

    async def serve(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            requests = [e for e in ws.events() if isinstance(e, Request)]
            if requests:
                break
        if seen is not None:
            seen.extend(requests)
        await handler(stream, ws)

    listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def next_close(stream: trio.SocketStream, ws: WSConnection) -> tuple[CloseConnection, bool]:
    """Read until the client's close frame; also says whether it came from an EOF (wsproto
    reports a dropped connection as a close too)."""
    while True:
        data = await stream.receive_some(65536)
        ws.receive_data(data or None)
        for event in ws.events():
            if isinstance(event, CloseConnection):
                return event, not data


async def answer_close(stream: trio.SocketStream, ws: WSConnection) -> None:
    """Read until the client's close frame and answer it (a well-behaved server)."""
    event, eof = await next_close(stream, ws)
    if not eof:
        await stream.send_all(ws.send(event.response()))


async def test_handshake_with_long_query_then_messages_in_order(nursery: trio.Nursery) -> None:
    seen: dict[str, str] = {}
    count = 500

    async def handler(request: WebSocketRequest) -> None:
        seen["path"] = request.path
        ws = await request.accept()
        for n in range(count):
            await ws.send_message(f"m{n}")

    port = await tw_server(nursery, handler)
    streams = "/".join(f"sym{n:05d}usdt@aggTrade" for n in range(400))  # ~8.4 KB
    target = f"/stream?streams={streams}"
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}{target}")
        got = [await ws.get_message()]
        while len(got) < count:
            got.extend(await ws.get_messages())
        await ws.aclose()
    assert len(target) > 8000
    assert seen == {"path": target}
    assert got == [f"m{n}" for n in range(count)]


async def test_fragmented_message_and_frames_glued_to_the_101(nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream, ws: WSConnection) -> None:
        data = ws.send(AcceptConnection())
        data += ws.send(TextMessage("first"))
        for piece, last in (("frag", False), ("men", False), ("ted ✓", True)):
            data += ws.send(TextMessage(piece, message_finished=last))
        data += ws.send(BytesMessage(b"\x00bin"))
        data += ws.send(TextMessage("after"))
        await stream.send_all(data)  # one write: the client gets it in one chunk
        await answer_close(stream, ws)

    seen: list[Request] = []
    port = await raw_server(nursery, handler, seen)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/a?b=c")
        got = await ws.get_messages()
        await ws.aclose()
    assert got == ["first", "fragmented ✓", b"\x00bin", "after"]
    # Host with the non-default port; no extension offered (no permessage-deflate)
    assert (seen[0].host, seen[0].target, seen[0].extensions) == (f"127.0.0.1:{port}", "/a?b=c", [])


async def test_ping_is_answered_with_its_payload(nursery: trio.Nursery) -> None:
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        # trio-websocket's ping() returns only once the pong with this payload came back
        for n in range(3):
            await ws.ping(b"payload-%d" % n)
        await ws.send_message("pinged")
        done.set()
        await ws.get_message()  # until the client closes

    port = await tw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        assert await ws.get_message() == "pinged"
        await done.wait()
        await ws.aclose()


async def test_server_close_raises_its_code_after_earlier_messages(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("last words")
        await ws.aclose(4001, "go away")

    port = await tw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        assert await ws.get_message() == "last words"
        with pytest.raises(WsClosed) as info:
            await ws.get_message()
        with pytest.raises(WsClosed):  # and stays closed
            await ws.get_messages()
        with pytest.raises(WsClosed):
            await ws.send_message("too late")
        await ws.aclose()
    assert (info.value.code, info.value.reason) == (4001, "go away")


async def test_abrupt_tcp_close_is_1006(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("hello")
        await ws._stream.aclose()  # no public "drop TCP" call in trio-websocket

    port = await tw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        assert await ws.get_message() == "hello"
        with pytest.raises(WsClosed) as info:
            await ws.get_message()
        await ws.aclose()  # never raises on a broken connection
    assert info.value.code == 1006


@pytest.mark.parametrize("status", [400, 429, 451])
async def test_handshake_rejection_has_status_and_body(nursery: trio.Nursery, status: int) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(status, body=b'{"code":-1003,"msg":"Too many requests"}')

    port = await tw_server(nursery, handler)
    with trio.fail_after(T), pytest.raises(WsHandshakeError) as info:
        await connect(f"ws://127.0.0.1:{port}/stream")
    assert info.value.status == status
    assert "Too many requests" in info.value.body


async def test_rejection_without_body(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(403)

    port = await tw_server(nursery, handler)
    with trio.fail_after(T), pytest.raises(WsHandshakeError) as info:
        await connect(f"ws://127.0.0.1:{port}/stream")
    assert info.value.status == 403


async def test_oversized_message_closes_1009(nursery: trio.Nursery) -> None:
    closed: list[int | None] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("small")
        try:
            await ws.send_message("x" * 5000)  # one frame, parsed in pieces
            await ws.get_message()
        except ConnectionClosed as exc:
            closed.append(exc.reason.code if exc.reason else None)

    port = await tw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/", max_message_size=4096, receive_size=1024)
        assert await ws.get_message() == "small"
        with pytest.raises(WsClosed) as info:
            await ws.get_message()
        await ws.aclose()
        while not closed:  # noqa: ASYNC110 - the server task records it
            await trio.sleep(0.01)
    assert info.value.code == 1009
    assert closed == [1009]


async def test_oversized_single_chunk_message_closes_1009(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("y" * 3000)
        await ws.get_message()

    port = await tw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/", max_message_size=2048)
        with pytest.raises(WsClosed) as info:
            await ws.get_message()
    assert info.value.code == 1009


async def test_send_while_another_task_receives(nursery: trio.Nursery) -> None:
    pings = 20
    ponged = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()

        async def pinger() -> None:
            for k in range(pings):  # pongs go out while the client's sends are in flight
                await ws.ping(b"p%d" % k)
            ponged.set()

        async with trio.open_nursery() as tasks:
            tasks.start_soon(pinger)
            try:
                while True:
                    msg = await ws.get_message()
                    assert isinstance(msg, str)
                    await ws.send_message(f"echo {msg}")
            except ConnectionClosed:
                tasks.cancel_scope.cancel()

    port = await tw_server(nursery, handler)
    n = 300
    got: list[str | bytes] = []
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")

        async def receive() -> None:
            while len(got) < n or not ponged.is_set():
                got.extend(await ws.get_messages())

        async with trio.open_nursery() as inner:
            inner.start_soon(receive)
            for k in range(n):
                await ws.send_message(f"req{k}")
                if k % 50 == 0:
                    await trio.sleep(0.01)  # let the server ping in between
            await ponged.wait()
            await ws.send_message("last")
        await ws.aclose()
    assert got[:n] == [f"echo req{k}" for k in range(n)]


async def test_aclose_twice_sends_one_close(nursery: trio.Nursery) -> None:
    codes: list[int | None] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            codes.append(exc.reason.code if exc.reason else None)

    port = await tw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        await ws.aclose(1000)
        await ws.aclose(1000)
        with pytest.raises(WsClosed):
            await ws.get_message()
        with pytest.raises(WsClosed):
            await ws.send_message("after close")
        while not codes:  # noqa: ASYNC110 - the server task records it
            await trio.sleep(0.01)
    assert codes == [1000]


async def test_aclose_does_not_wait_forever_for_a_silent_peer(nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(AcceptConnection()))
        await trio.sleep_forever()  # never answers the close

    port = await raw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/", close_timeout=0.2)
        start = trio.current_time()
        await ws.aclose()
    assert trio.current_time() - start < 2


async def test_connect_timeout(nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream, ws: WSConnection) -> None:
        await trio.sleep_forever()  # never answers the handshake

    port = await raw_server(nursery, handler)
    with trio.fail_after(T), pytest.raises(WsConnectTimeout):
        await connect(f"ws://127.0.0.1:{port}/", connect_timeout=0.2)


async def test_eof_during_handshake_is_1006(nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.aclose()

    port = await raw_server(nursery, handler)
    with trio.fail_after(T), pytest.raises(WsClosed) as info:
        await connect(f"ws://127.0.0.1:{port}/")
    assert info.value.code == 1006


async def test_close_glued_to_the_101_is_answered(nursery: trio.Nursery) -> None:
    answered: list[object] = []

    async def handler(stream: trio.SocketStream, ws: WSConnection) -> None:
        data = ws.send(AcceptConnection()) + ws.send(TextMessage("bye"))
        await stream.send_all(data + ws.send(CloseConnection(code=1001, reason="shutdown")))
        answered.append((await next_close(stream, ws))[0])

    port = await raw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        assert await ws.get_message() == "bye"
        with pytest.raises(WsClosed) as info:
            await ws.get_message()
        while not answered:  # noqa: ASYNC110 - the server task records it
            await trio.sleep(0.01)
    assert info.value.code == 1001
    assert [getattr(e, "code", None) for e in answered] == [1001]


def test_bad_scheme_is_refused() -> None:
    with pytest.raises(ValueError):
        trio.run(connect, "http://127.0.0.1:1/")


async def test_tls_with_sni(nursery: trio.Nursery) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handler(request: WebSocketRequest) -> None:
        ws: WebSocketConnection = await request.accept()
        await ws.send_message("secret")
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    port = await tw_server(nursery, handler, server_ctx)
    with trio.fail_after(T):
        ws: WsClient = await connect(f"wss://localhost:{port}/stream", ssl_context=client_ctx)
        assert await ws.get_message() == "secret"
        await ws.aclose()
        # and a certificate for another name fails as a TLS close (1015)
        with pytest.raises(WsClosed) as info:
            await connect(f"wss://127.0.0.1:{port}/stream", ssl_context=client_ctx)
    assert sni[0] == "localhost"
    assert info.value.code == 1015


async def test_protocol_violation_closes_with_its_code(nursery: trio.Nursery) -> None:
    codes: list[int] = []

    async def handler(stream: trio.SocketStream, ws: WSConnection) -> None:
        data = ws.send(AcceptConnection()) + ws.send(TextMessage("ok"))
        await stream.send_all(data + b"\x83\x00")  # reserved opcode 3
        codes.append((await next_close(stream, ws))[0].code)

    port = await raw_server(nursery, handler)
    with trio.fail_after(T):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        assert await ws.get_message() == "ok"
        with pytest.raises(WsClosed) as info:
            await ws.get_message()
        while not codes:  # noqa: ASYNC110 - the server task records it
            await trio.sleep(0.01)
    assert info.value.code == 1002
    assert codes == [1002]
