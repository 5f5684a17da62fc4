"""E -> visible-in-Redis latency measured from Redis itself: a thread blocks in
``XREAD BLOCK`` on some symbols' ``trades:{S}:stream`` and, for every entry it receives,
records (wall clock when XREAD returned) - ``E`` of the entry. Only live entries count
(``T`` at or after the probe's start): REST backfills carry ``E = T`` and are old."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from benchlib import stream_key


class LatencyProbe:
    def __init__(self, url: str, symbols: Sequence[str]) -> None:
        self.r = redis.Redis.from_url(url, socket_timeout=10)
        self.keys = [stream_key(s) for s in symbols]
        self.samples: list[float] = []
        self.late_entries = 0  # entries that were old (backfilled) when they appeared
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-probe", daemon=True)
        self.start_ms = 0

    def start(self) -> None:
        self.start_ms = int(time.time() * 1000)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last: dict[str, bytes | str] = dict.fromkeys(self.keys, "$")
        while not self._stop.is_set():
            reply: Any = self.r.xread(last, block=500, count=10_000)  # type: ignore[arg-type]  # redis-py types streams as dict[KeyT, StreamIdT]; str/bytes both work
            now = time.time() * 1000
            for key, entries in reply or []:
                k = key.decode()
                for entry_id, fields in entries:
                    last[k] = entry_id
                    if int(fields[b"T"]) < self.start_ms:
                        self.late_entries += 1
                        continue
                    self.samples.append(now - int(fields[b"E"]))

    def percentiles(self) -> dict[str, float | int | None]:
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
