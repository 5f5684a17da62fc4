"""Settling SUBSCRIBE requests that got no reply (a busy server, a lost frame): they may
or may not have taken effect. Ask the server which streams the connection carries
(``LIST_SUBSCRIPTIONS``) and subscribe again those it lacks, a bounded number of times."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from orders_cli.pipeline.link import Link
from orders_cli.sources.base import Source

CONFIRM_ATTEMPTS = 2


@attrs.define
class Confirmation:
    confirmed: int = 0  # streams the server listed although their SUBSCRIBE got no reply
    retried: int = 0  # streams subscribed again
    errors: list[str] = attrs.field(factory=list)  # error replies to the retries
    unconfirmed: list[str] = attrs.field(factory=list)  # still unknown at the end


async def confirm_subscribed(
    link: Link,
    source: Source,
    streams: list[str],
    *,
    batch_size: int,
    reply_timeout: float,
    next_id: Callable[[], int],
    attempts: int = CONFIRM_ATTEMPTS,
) -> Confirmation:
    """Make ``link.streams`` hold those of ``streams`` the server carries; subscribe the
    rest again. Error replies are returned, not raised."""
    out = Confirmation()
    for _attempt in range(attempts):
        rid = next_id()
        reply = await link.request(
            source.list_subscriptions_message(rid), rid, reply_timeout=reply_timeout
        )
        listed = reply.result if reply is not None and reply.error_code is None else None
        if not isinstance(listed, list):
            break  # no usable answer: leave the rest unconfirmed
        have = set(listed)
        present = [s for s in streams if s in have]
        link.streams.update(present)
        out.confirmed += len(present)
        streams = [s for s in streams if s not in have]
        if not streams:
            return out
        out.retried += len(streams)
        accepted, errors, unanswered = await link.control(
            source.subscribe_message,
            streams,
            verb="SUBSCRIBE",
            batch_size=batch_size,
            reply_timeout=reply_timeout,
            next_id=next_id,
        )
        for batch in accepted:
            link.streams.update(batch)
        out.errors.extend(errors)
        streams = [s for batch in unanswered for s in batch]
        if not streams:
            return out
    out.unconfirmed = streams
    return out
