"""SUBSCRIBE / UNSUBSCRIBE on a connection (:func:`control_streams`), and settling the
requests that did not simply succeed.

- No reply (a busy server, a lost frame): they may or may not have taken effect. Ask the
  server which streams the connection carries (``LIST_SUBSCRIPTIONS``) and subscribe again
  those it lacks, a bounded number of times (:func:`confirm_subscribed`).
- An error reply refuses the whole batch (up to 200 streams) over what may be one name the
  server does not accept: subscribe halves again until the refused names are alone
  (:func:`refuse_apart`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import attrs

from orders_cli.pipeline.link import Link
from orders_cli.sources.base import Source
from orders_cli.telemetry import Telemetry

log = logging.getLogger(__name__)

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
        out.errors.extend(text for text, _batch in errors)
        streams = [s for batch in unanswered for s in batch]
        if not streams:
            return out
    out.unconfirmed = streams
    return out


MAX_SPLIT_REQUESTS = 64
"""Bound on the extra SUBSCRIBEs spent isolating refused names (one bad name in a batch
of 200 costs ~16; paced under the message limit, a few seconds)."""


async def refuse_apart(
    link: Link,
    source: Source,
    refused: Sequence[list[str]],
    report: Callable[[list[str]], None],
    *,
    reply_timeout: float,
    next_id: Callable[[], int],
) -> None:
    """Subscribe the halves of each refused batch again, recursively, until only the
    streams the server refuses on their own are left; ``report`` gets those (and any left
    unresolved when the request bound is reached). Accepted halves join ``link.streams``."""
    todo = [list(b) for b in refused if b]
    alone: list[str] = []
    spent = 0
    while todo and spent < MAX_SPLIT_REQUESTS:
        batch = todo.pop()
        if len(batch) == 1:
            alone.extend(batch)
            continue
        mid = len(batch) // 2
        for half in (batch[:mid], batch[mid:]):
            spent += 1
            accepted, errors, unanswered = await link.control(
                source.subscribe_message,
                half,
                verb="SUBSCRIBE",
                batch_size=len(half),
                reply_timeout=reply_timeout,
                next_id=next_id,
            )
            for ok in accepted:
                link.streams.update(ok)
            todo.extend(b for _text, b in errors)
            for lost in unanswered:  # no word either way: leave it to the sweep
                alone.extend(lost)
    alone.extend(s for b in todo for s in b)
    if alone:
        report(alone)


async def control_streams(
    link: Link,
    source: Source,
    streams: Sequence[str],
    *,
    subscribe: bool,
    batch_size: int,
    reply_timeout: float,
    next_id: Callable[[], int],
    telemetry: Telemetry,
    fail: Callable[[str], None],
) -> None:
    """(Un)subscribe ``streams`` in paced batches of ``batch_size``; ``link.streams``
    follows what the server accepted. A refused SUBSCRIBE batch is split until only the
    refused names are left; unanswered ones are confirmed. Failures go to ``fail`` (logged
    and counted by the caller), never raised."""
    verb = "SUBSCRIBE" if subscribe else "UNSUBSCRIBE"
    accepted, errors, unanswered = await link.control(
        source.subscribe_message if subscribe else source.unsubscribe_message,
        streams,
        verb=verb,
        batch_size=batch_size,
        reply_timeout=reply_timeout,
        next_id=next_id,
    )
    telemetry.count("control_sent", len(accepted) + len(errors) + len(unanswered))
    for batch in accepted:
        if subscribe:
            link.streams.update(batch)
        else:
            link.streams.difference_update(batch)
    for text, _batch in errors:
        fail(text)
    if subscribe and errors:

        def refused(names: list[str]) -> None:
            telemetry.count("subscribe_refused", len(names))
            fail(
                f"the server refused to subscribe {len(names)} stream(s): "
                f"{', '.join(names[:5])}; the head-check sweep covers their symbols by REST"
            )

        await refuse_apart(
            link,
            source,
            [b for _t, b in errors],
            refused,
            reply_timeout=reply_timeout,
            next_id=next_id,
        )
    lost = [s for batch in unanswered for s in batch]
    if lost and subscribe:
        log.warning("%d SUBSCRIBEs got no reply: confirming", len(lost))
        res = await confirm_subscribed(
            link, source, lost, batch_size=batch_size, reply_timeout=reply_timeout, next_id=next_id
        )
        telemetry.count("subscribe_confirmed", res.confirmed)
        telemetry.count("subscribe_retried", res.retried)
        for text in res.errors:
            fail(text)
        if res.unconfirmed:
            fail(
                f"SUBSCRIBE of {len(res.unconfirmed)} streams unconfirmed (no reply, "
                "LIST_SUBSCRIPTIONS did not settle it); the head-check sweep covers them"
            )
    elif lost:
        fail(f"{verb} of {len(lost)} streams: no reply")
