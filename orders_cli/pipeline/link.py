"""One physical shard connection (two overlap during a rotation), its control requests,
and the classification of errors that mean "open another connection"."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError
from wsproto.utilities import LocalProtocolError

from orders_cli.models import ControlReply
from orders_cli.pipeline.pacing import MessagePacer
from orders_cli.sources.base import Source
from orders_cli.ws.wsclient import WsError
from orders_cli.ws.wsopen import WsConn

log = logging.getLogger(__name__)

# handshake URLs stay under the 8 KB request line common servers accept (docs/binance.md §1.2)
URL_MAX_BYTES = 8000


class SilenceGauge:
    """How long a connection may stay silent before it counts as stalled.

    A busy connection: ``floor`` (the stall timeout). A connection whose messages are
    normally far apart (a few illiquid symbols): ``quiet_factor`` x its mean gap between
    message batches, at most ``ceiling_factor`` x ``floor`` — silence that is normal for it
    is not a stall (it used to reconnect every ``floor`` seconds and head-check its symbols
    by REST each time). The mean is the shard's, kept across reconnects (a declared stall
    counts as a gap of its length; a busy connection pulls the mean back down within a few
    dozen batches); the time across a reconnect is not a gap."""

    def __init__(
        self,
        floor: float,
        *,
        quiet_factor: float = 20.0,
        ceiling_factor: float = 10.0,
        alpha: float = 0.05,
    ) -> None:
        self.floor = floor
        self.ceiling = floor * ceiling_factor
        self.quiet_factor = quiet_factor
        self.alpha = alpha
        self.mean_gap: float | None = None
        self._last: float | None = None

    def allowed(self) -> float:
        if self.mean_gap is None:
            return self.floor
        return min(self.ceiling, max(self.floor, self.quiet_factor * self.mean_gap))

    def arrived(self, now: float) -> None:
        last, self._last = self._last, now
        if last is not None:
            self._sample(now - last)

    def silent_for(self, seconds: float) -> None:
        """A stall was declared after ``seconds`` of silence: at least that is its pace."""
        self._sample(seconds)
        self._last = None

    def restart(self, now: float) -> None:
        """A new connection (subscribed at ``now``): gaps count from here, not from the
        old connection's last message."""
        self._last = now

    def _sample(self, gap: float) -> None:
        m = self.mean_gap
        self.mean_gap = gap if m is None else m + self.alpha * (gap - m)


class ShardStalled(Exception):
    """No frame arrived on a connection for ``stall_timeout`` seconds."""


class SilentEndpoint(Exception):
    """The connection's subscriptions were confirmed, yet it delivered no trade while REST
    showed new ones (pipeline/endpoint_watch.py)."""


# errors that mean "this connection is gone; open another one"; anything else is a bug
RECONNECTABLE: tuple[type[BaseException], ...] = (
    # the wsproto client (default): WsClosed, WsHandshakeError, WsConnectTimeout
    WsError,
    # trio-websocket (--ws-client trio-websocket)
    ConnectionClosed,
    HandshakeError,
    OSError,
    trio.BrokenResourceError,
    ShardStalled,
    SilentEndpoint,
    # trio-websocket 0.12's reader answers a Ping that races our own close frame and
    # wsproto refuses ("Pong cannot be sent in state LOCAL_CLOSING"): the connection is
    # going away anyway
    LocalProtocolError,
)


def handshake_url(
    source: Source, ws_base: str, streams: Sequence[str], limit: int
) -> tuple[str, int]:
    """The URL to connect with and how many of ``streams`` (from the front) it carries:
    at most ``limit``, fewer if the URL would pass ``URL_MAX_BYTES`` (long or
    percent-encoded non-ASCII names). SUBSCRIBE carries the rest."""
    count = min(limit, len(streams))
    while True:
        url = source.connect_url(ws_base, streams[:count])
        if count == 0 or len(url) <= URL_MAX_BYTES:
            return url, count
        count = min(count - 1, count * URL_MAX_BYTES // len(url))


async def cancel_when_cancelled(scope: trio.CancelScope) -> None:
    """Sleep forever; cancel ``scope`` when this task is cancelled."""
    try:
        await trio.sleep_forever()
    finally:
        scope.cancel()


@attrs.define(eq=False)
class Link:
    """One connection: its socket, pacing, subscribed streams and pending requests."""

    serial: int
    opened_at: float
    rotate_at: float
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    ws: WsConn | None = None
    pacer: MessagePacer | None = None
    streams: set[str] = attrs.field(factory=set)
    waiters: dict[object, trio.Event] = attrs.field(factory=dict)
    replies: dict[object, ControlReply] = attrs.field(factory=dict)
    first_message: trio.Event = attrs.field(factory=trio.Event)
    shutdown: trio.Event = attrs.field(factory=trio.Event)
    live: bool = False
    retiring: bool = False
    finished: bool = False
    url: str = ""
    watchdog: trio.CancelScope | None = None  # the receive loop's: cancelled by an alarm
    alarm: str | None = None  # why the connection was declared silent

    def on_reply(self, reply: ControlReply) -> bool:
        """Match a reply to its request; False when nobody waits for it."""
        waiter = self.waiters.pop(reply.request_id, None)
        if waiter is None:
            return False
        self.replies[reply.request_id] = reply
        waiter.set()
        return True

    async def _send(self, message: str, rid: int) -> trio.Event:
        """Send one paced request carrying id ``rid``; the event is set by its reply."""
        ws, pacer = self.ws, self.pacer
        assert ws is not None and pacer is not None
        waiter = self.waiters[rid] = trio.Event()
        await pacer.wait()
        await ws.send_message(message)
        return waiter

    def _take(self, rid: int) -> ControlReply | None:
        """The reply to ``rid`` (None: none came), forgetting the request."""
        self.waiters.pop(rid, None)
        return self.replies.pop(rid, None)

    async def control(
        self,
        make: Callable[[Sequence[str], int], str],
        streams: Sequence[str],
        *,
        verb: str,
        batch_size: int,
        reply_timeout: float,
        next_id: Callable[[], int],
    ) -> tuple[list[list[str]], list[tuple[str, list[str]]], list[list[str]]]:
        """Send ``streams`` in paced batches of ``batch_size`` (one request each) and wait
        for every reply. Returns (accepted batches, (error text, batch) of each refused
        batch, unanswered batches)."""
        sent: list[tuple[int, list[str], trio.Event]] = []
        for start in range(0, len(streams), batch_size):
            batch = list(streams[start : start + batch_size])
            rid = next_id()
            sent.append((rid, batch, await self._send(make(batch, rid), rid)))
        with trio.move_on_after(reply_timeout):
            for _, _, waiter in sent:
                await waiter.wait()
        accepted: list[list[str]] = []
        errors: list[tuple[str, list[str]]] = []
        unanswered: list[list[str]] = []
        for rid, batch, _ in sent:
            reply = self._take(rid)
            if reply is None:
                unanswered.append(batch)
            elif reply.error_code is not None:
                text = f"{verb} id={rid}: error {reply.error_code} {reply.error_msg}"
                errors.append((text, batch))
            else:
                accepted.append(batch)
        return accepted, errors, unanswered

    async def request(self, message: str, rid: int, *, reply_timeout: float) -> ControlReply | None:
        """Send one paced request (``message`` carries id ``rid``); its reply, or None."""
        waiter = await self._send(message, rid)
        with trio.move_on_after(reply_timeout):
            await waiter.wait()
        return self._take(rid)
