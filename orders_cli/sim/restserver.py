"""A small HTTP/1.1 server on trio + h11, with Binance's per-IP request-weight budget."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import h11
import orjson
import trio

from orders_cli.sim.engine import _Trigger

if TYPE_CHECKING:
    from collections.abc import Callable

    from orders_cli.sim.config import SimConfig
    from orders_cli.sim.engine import Engine

Headers = list[tuple[bytes, bytes]]


@attrs.define
class Response:
    status: int
    body: bytes
    headers: Headers = attrs.Factory(list)


def error(status: int, code: int, msg: str) -> Response:
    return Response(status, orjson.dumps({"code": code, "msg": msg}))


@attrs.define
class _IpState:
    window: int = -1
    used: int = 0
    limited_until: float = 0.0
    calls_after_429: int = 0
    banned_until: float = 0.0


class WeightLimiter:
    """REQUEST_WEIGHT per window per IP; over budget -> 429; calling on within the
    Retry-After -> 418 ban for ``ban_s`` (every call 418 until it ends)."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.ips: dict[str, _IpState] = {}
        self.t0 = trio.current_time()

    def used(self, ip: str) -> int:
        st = self.ips.get(ip)
        return 0 if st is None else st.used

    def charge(self, ip: str, weight: int) -> Response | None:
        cfg, now = self.cfg, trio.current_time()
        st = self.ips.setdefault(ip, _IpState())
        window = int((now - self.t0) // cfg.weight_window_s)
        if window != st.window:
            st.window, st.used = window, 0
        if st.banned_until > now:
            return self._banned(st, now)
        if st.limited_until > now:
            st.calls_after_429 += 1
            if st.calls_after_429 >= cfg.calls_after_429_to_ban:
                st.banned_until = now + cfg.ban_s
                return self._banned(st, now)
            return self._limited(st, now)
        if st.used + weight > cfg.weight_budget:
            window_end = self.t0 + (window + 1) * cfg.weight_window_s
            if cfg.retry_after_s is not None:
                window_end = now + cfg.retry_after_s
            st.limited_until = max(window_end, now + 1)
            st.calls_after_429 = 0
            return self._limited(st, now)
        st.used += weight
        return None

    def _limited(self, st: _IpState, now: float) -> Response:
        retry = max(1, math.ceil(st.limited_until - now))
        r = error(
            429,
            -1003,
            f"Too much request weight used; current limit is {self.cfg.weight_budget} "
            "request weight per 1 MINUTE. Please use WebSocket Streams for live updates "
            "to avoid polling the API.",
        )
        r.headers.append((b"Retry-After", str(retry).encode()))
        return r

    def _banned(self, st: _IpState, now: float) -> Response:
        retry = max(1, math.ceil(st.banned_until - now))
        r = error(
            418,
            -1003,
            f"Way too much request weight used; IP banned until "
            f"{int((st.banned_until - self.t0) * 1000)}. Please use WebSocket Streams "
            "for live updates to avoid bans.",
        )
        r.headers.append((b"Retry-After", str(retry).encode()))
        return r


class HttpServer:
    """Serves ``handler(method, target, ip) -> Response`` over keep-alive HTTP/1.1; every
    reply carries ``used(target, ip)``, the weight used in the window, as
    X-MBX-USED-WEIGHT-1M."""

    def __init__(
        self,
        engine: Engine,
        handler: Callable[[str, str, str], Response],
        used: Callable[[str, str], int],
    ) -> None:
        self.engine = engine
        self.handler = handler
        self.used = used
        self.fault = _Trigger(engine.cfg.faults.rest_error, engine.rng)

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._connection, listeners)
            task_status.started()

    async def _connection(self, stream: trio.SocketStream) -> None:
        ip = str(stream.socket.getpeername()[0])
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                    continue
                if isinstance(event, h11.Request):
                    while True:  # discard any request body
                        body_event = conn.next_event()
                        if body_event is h11.NEED_DATA:
                            conn.receive_data(await stream.receive_some(65536))
                        elif isinstance(body_event, h11.EndOfMessage | h11.ConnectionClosed):
                            break
                    target = event.target.decode()
                    resp = self._respond(event.method.decode(), target, ip)
                    used = str(self.used(target, ip)).encode()
                    resp.headers.append((b"X-MBX-USED-WEIGHT-1M", used))
                    await self._send(stream, conn, resp, event.method == b"HEAD")
                    if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                        break
                    conn.start_next_cycle()
                else:
                    break
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    def _respond(self, method: str, target: str, ip: str) -> Response:
        elapsed = trio.current_time() - self.engine.t0
        self.fault.advance(elapsed)
        if self.fault.fire():
            self.engine.stats["rest_fault"] += 1
            status = self.engine.cfg.faults.rest_error_status
            r = error(status, -1000 if status >= 500 else -1003, "An unknown error occurred.")
            if status in (418, 429):
                r.headers.append((b"Retry-After", b"1"))
            return self._count(r)
        if method != "GET":
            return self._count(error(405, -1000, "Method not allowed."))
        return self._count(self.handler(method, target, ip))

    def _count(self, r: Response) -> Response:
        stats = self.engine.stats
        if r.status == 429:
            stats["rest_429"] += 1
        elif r.status == 418:
            stats["rest_418"] += 1
        elif r.status >= 500:
            stats["rest_5xx"] += 1
        return r

    async def _send(
        self, stream: trio.SocketStream, conn: h11.Connection, r: Response, head: bool
    ) -> None:
        headers = [
            (b"Content-Type", b"application/json;charset=UTF-8"),
            (b"Content-Length", str(len(r.body)).encode()),
            *r.headers,
        ]
        data = conn.send(h11.Response(status_code=r.status, headers=headers))
        if not head:  # a HEAD reply announces the length but carries no body
            data += conn.send(h11.Data(data=r.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(data)
