"""E -> visible-in-Redis latency measured from Redis itself: a thread blocks in
``XREAD BLOCK`` on some symbols' ``trades:{S}:stream`` and, for every entry it receives,
records (wall clock when XREAD returned) - ``E`` of the entry. Only live entries count
(``T`` at or after the probe's start): REST backfills carry ``E = T`` and are old.

On one server a single thread reads every probed stream in one XREAD. On a Redis Cluster
an XREAD cannot span slots (CROSSSLOT, even for two slots of one node) and every symbol
has its own ``{S}`` hash tag, so :meth:`LatencyProbe.cluster` runs one reader thread per
symbol, each blocking on its stream at the primary that serves it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from benchlib import stream_key


class LatencyProbe:
    """``groups``: (client, stream keys) pairs, each read by its own thread."""

    def __init__(self, groups: Sequence[tuple[redis.Redis, Sequence[str]]]) -> None:
        self.groups = [(r, list(keys)) for r, keys in groups]
        self.samples: list[float] = []
        self.late_entries = 0  # entries that were old (backfilled) when they appeared
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=g, name=f"latency-probe-{i}", daemon=True)
            for i, g in enumerate(self.groups)
        ]
        self.start_ms = 0

    @classmethod
    def single(cls, url: str, symbols: Sequence[str], per_symbol: bool = False) -> LatencyProbe:
        """One server: one thread, one XREAD over every probed symbol; ``per_symbol``: a
        thread per symbol, as on a cluster (to compare the two the same way)."""
        keys = [stream_key(s) for s in symbols]
        if per_symbol:
            return cls([(redis.Redis.from_url(url, socket_timeout=10), [k]) for k in keys])
        return cls([(redis.Redis.from_url(url, socket_timeout=10), keys)])

    @classmethod
    def cluster(cls, rc: redis.RedisCluster, symbols: Sequence[str]) -> LatencyProbe:
        """A Redis Cluster: one thread per symbol, on a plain connection to its primary."""
        groups = []
        for s in symbols:
            key = stream_key(s)
            node = rc.get_node_from_key(key)
            groups.append((redis.Redis(host=node.host, port=node.port, socket_timeout=10), [key]))
        return cls(groups)

    @property
    def readers(self) -> int:
        return len(self._threads)

    def start(self) -> None:
        self.start_ms = int(time.time() * 1000)
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)

    def _run(self, r: redis.Redis, keys: list[str]) -> None:
        last: dict[str, bytes | str] = dict.fromkeys(keys, "$")
        while not self._stop.is_set():
            reply: Any = r.xread(last, block=500, count=10_000)  # type: ignore[arg-type]  # redis-py types streams as dict[KeyT, StreamIdT]; str/bytes both work
            now = time.time() * 1000
            fresh, late = [], 0
            for key, entries in reply or []:
                k = key.decode()
                for entry_id, fields in entries:
                    last[k] = entry_id
                    if int(fields[b"T"]) < self.start_ms:
                        late += 1
                        continue
                    fresh.append(now - int(fields[b"E"]))
            if fresh or late:
                with self._lock:
                    self.samples.extend(fresh)
                    self.late_entries += late

    def percentiles(self) -> dict[str, float | int | None]:
        with self._lock:
            data = sorted(self.samples)
        if not data:
            return {"p50": None, "p99": None, "max": None, "samples": 0}

        def q(p: float) -> float:
            return round(data[min(len(data) - 1, int(p * (len(data) - 1) + 0.5))], 1)

        return {
            "p50": q(0.5),
            "p99": q(0.99),
            "max": round(data[-1], 1),
            "samples": len(data),
            "late_entries": self.late_entries,
        }
