"""The shards of one run: starts them, owns the connect budget they share, and places
streams on them by one policy (:func:`sharding.place`) at startup and on listing changes."""

from __future__ import annotations

import random
from collections.abc import Sequence

import trio

from orders_cli.config import OVERLOAD_HOLD_S
from orders_cli.messages import WriterInput
from orders_cli.pipeline.connect_budget import ConnectBudget
from orders_cli.pipeline.shard import Shard
from orders_cli.pipeline.sharding import place
from orders_cli.sources.base import Source
from orders_cli.telemetry import Telemetry
from orders_cli.ws.wsopen import WsClientKind


class ShardPool:
    def __init__(
        self,
        source: Source,
        ws_url: str,
        writer_send: trio.MemorySendChannel[WriterInput],
        telemetry: Telemetry,
        *,
        per_connection: int,
        stall_timeout_s: float,
        rotate_after_s: float | None,
        ws_client: WsClientKind,
        overload_hold_s: float = OVERLOAD_HOLD_S,
        rng: random.Random | None = None,
    ) -> None:
        """``writer_send`` is cloned for each shard (the caller keeps and closes it)."""
        self.source = source
        self.ws_url = ws_url
        self.writer_send = writer_send
        self.telemetry = telemetry
        self.per_connection = per_connection
        self.stall_timeout_s = stall_timeout_s
        self.rotate_after_s = rotate_after_s
        self.ws_client = ws_client
        self.overload_hold_s = overload_hold_s
        self.rng = rng if rng is not None else random.Random()
        self.budget = ConnectBudget(source.limits.max_connects_per_5min)
        self.shards: list[Shard] = []

    def symbols(self) -> list[str]:
        return [s for shard in self.shards for s in shard.symbols()]

    async def add(self, nursery: trio.Nursery, symbols: Sequence[str]) -> None:
        """Subscribe ``symbols``: into open connections with room, then new ones (started
        in ``nursery``; returns once each new one has started)."""
        streams = [self.source.stream_name(s) for s in symbols]
        fill, groups = place(
            [len(shard.streams) for shard in self.shards], streams, self.per_connection
        )
        for shard, take in zip(list(self.shards), fill, strict=True):
            if take:
                await shard.add_streams(take)
        for group in groups:
            await self._start(nursery, group)

    async def remove(self, symbols: Sequence[str]) -> None:
        gone = set(symbols)
        for shard in self.shards:
            streams = [self.source.stream_name(s) for s in shard.symbols() if s in gone]
            if streams:
                await shard.remove_streams(streams)

    def drain_malformed(self) -> list[str]:
        """The malformed frames the shards kept since the last call (oldest first)."""
        samples: list[str] = []
        for shard in self.shards:
            while shard.malformed_samples:
                samples.append(shard.malformed_samples.popleft())
        return samples

    async def _start(self, nursery: trio.Nursery, streams: list[str]) -> Shard:
        shard = Shard(
            f"{self.source.name}#{len(self.shards)}",
            self.source,
            self.ws_url,
            streams,
            self.writer_send.clone(),
            self.telemetry,
            self.budget,
            stall_timeout=self.stall_timeout_s,
            rotate_after=self.rotate_after_s,
            rng=random.Random(self.rng.random()),
            ws_client=self.ws_client,
            overload_hold_s=self.overload_hold_s,
        )
        self.shards.append(shard)
        await nursery.start(self._shard_task, shard)
        return shard

    @staticmethod
    async def _shard_task(shard: Shard, *, task_status: trio.TaskStatus[None]) -> None:
        async with shard.out:
            task_status.started()
            await shard.run()
