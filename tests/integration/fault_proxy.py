"""A fault proxy for REST: a small HTTP/1.1 server (trio + h11) on 127.0.0.1, port 0,
that forwards every request to an upstream (the simulator's REST) and answers chosen
requests itself with a bad page instead (a CDN's HTML, truncated JSON, a 4xx without
the exchange's error body)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import attrs
import h11
import trio

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>cloudfront</body></html>"


@attrs.frozen
class Page:
    status: int
    body: bytes
    content_type: bytes = b"text/html"


BAD_PAGES = (
    Page(200, HTML),  # a CDN's page with a 200
    Page(200, b'[{"a":1,"p":"0.1","q":"1","f":1,"l":1,"T":1', b"application/json"),  # cut
    Page(400, HTML),  # a 4xx that is not the exchange's answer
    Page(404, b""),
)

Rule = Callable[[int, str], Page | None]
"""(1-based request number, request target) -> the bad page to serve, or None to forward."""


async def _receive(conn: h11.Connection, stream: trio.abc.Stream) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some(65536))


class FaultProxy:
    def __init__(self, upstream: str, rule: Rule) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None
        self.host, self.port = parts.hostname, parts.port
        self.rule = rule
        self.requests = 0
        self.served_bad: list[tuple[str, Page]] = []
        self.url = ""

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._connection, listeners)
            task_status.started(self.url)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = await _receive(conn, stream)
                if not isinstance(event, h11.Request):
                    break
                while not isinstance(await _receive(conn, stream), h11.EndOfMessage):
                    pass
                self.requests += 1
                target = event.target.decode()
                page = self.rule(self.requests, target)
                if page is not None:
                    self.served_bad.append((target, page))
                    headers = [(b"Content-Type", page.content_type)]
                    status, body = page.status, page.body
                else:
                    status, headers, body = await self._forward(event.target)
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"Content-Length", str(len(body)).encode()))
                data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
                data += conn.send(h11.Data(data=body)) or b""
                data += conn.send(h11.EndOfMessage()) or b""
                await stream.send_all(data)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async def _forward(self, target: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        with trio.fail_after(10):
            up = await trio.open_tcp_stream(self.host, self.port)
            async with up:
                conn = h11.Connection(h11.CLIENT)
                host = f"{self.host}:{self.port}".encode()
                headers = [(b"Host", host), (b"Connection", b"close")]
                req = h11.Request(method="GET", target=target, headers=headers)
                await up.send_all((conn.send(req) or b"") + (conn.send(h11.EndOfMessage()) or b""))
                resp = await _receive(conn, up)
                assert isinstance(resp, h11.Response), resp
                body = b""
                while True:
                    event = await _receive(conn, up)
                    if isinstance(event, h11.Data):
                        body += bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                headers = [(bytes(k), bytes(v)) for k, v in resp.headers]
                return resp.status_code, headers, body
