"""The simulated exchange: books, the generation clock, fan-out to connections, faults."""

from __future__ import annotations

import heapq
import random
import secrets
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

import trio

from orders_cli.sim.book import Book
from orders_cli.sim.config import FaultSpec, SimConfig, SymbolSpec, stable_seed

if TYPE_CHECKING:
    from collections.abc import Iterable


class Subscriber(Protocol):
    """What the engine needs from a WebSocket connection."""

    combined: bool
    seq: int  # connection number: faults pick connections in this order

    def push(self, payload: bytes, wrapped: bytes) -> None: ...
    def flush(self) -> None: ...
    def stall(self, seconds: float) -> None: ...
    def abort(self) -> None: ...


class _Trigger:
    """Fires with probability ``rate`` per event, and once per scheduled ``at`` second."""

    def __init__(self, spec: FaultSpec, rng: random.Random) -> None:
        self.rate = spec.rate
        self.pending = sorted(spec.at)
        self.armed = 0
        self.rng = rng

    def advance(self, elapsed: float) -> None:
        while self.pending and self.pending[0] <= elapsed:
            self.pending.pop(0)
            self.armed += 1

    @property
    def live(self) -> bool:
        return self.rate > 0 or self.armed > 0

    def fire(self, scale: float = 1.0) -> bool:
        if self.armed:
            self.armed -= 1
            return True
        return self.rate > 0 and self.rng.random() < self.rate * scale


class Engine:
    """Books + subscriptions + faults. Runs one generation loop."""

    def __init__(self, cfg: SimConfig, stats: Counter[str] | None = None) -> None:
        self.cfg = cfg
        self.rules = cfg.rules
        # one simulator serving several markets counts into one Counter
        self.stats: Counter[str] = Counter() if stats is None else stats
        # random, not from the seed: two runs of one scenario restart the same ids, and a
        # store filled by one must not look like the other's (store/origin.py)
        self.instance = secrets.token_hex(8)
        self.books: dict[str, Book] = {}
        self.order: list[str] = []
        self.subs: dict[str, set[Subscriber]] = {}
        self.frozen = False
        self.t0 = 0.0
        self.epoch0_ms = 0
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        f = cfg.faults
        rng = random.Random(stable_seed(cfg.seed, "faults"))
        self.f_drop = _Trigger(f.drop, rng)
        self.f_dup = _Trigger(f.duplicate, rng)
        self.f_bad = _Trigger(f.malformed, rng)
        self.f_reorder = _Trigger(f.reorder_burst, rng)
        self.f_stall = _Trigger(f.stall, rng)
        self.f_abort = _Trigger(f.abort, rng)
        self.rng = rng
        self._listings = sorted(f.listings, key=lambda x: x[0])
        self._status = sorted(f.status_changes, key=lambda x: x[0])
        self.holes: dict[str, list[tuple[int, int]]] = {}
        for sym, lo, hi in f.holes:
            self.holes.setdefault(sym, []).append((lo, hi))
        self.epoch0_ms = int(time.time() * 1000)
        for spec, rate in zip(cfg.symbols, cfg.rates(), strict=True):
            self._add_book(spec, rate, history=True)

    # -- clock --------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.epoch0_ms + int((trio.current_time() - self.t0) * 1000)

    def _add_book(self, spec: SymbolSpec, rate: float, history: bool) -> Book:
        book = Book(spec, self.cfg.seed, rate, self.rules)
        if history and self.cfg.history_s > 0:
            book.generate_history(self.epoch0_ms, self.cfg.history_s)
        self.books[spec.symbol] = book
        self.order.append(spec.symbol)
        return book

    def _schedule(self, book: Book, elapsed: float) -> None:
        if book.rate <= 0:
            return
        if book.next_due <= 0:
            book.next_due = elapsed + book.next_gap()
        self._seq += 1
        heapq.heappush(self._heap, (book.next_due, self._seq, book.symbol))

    def list_symbol(self, spec: SymbolSpec) -> None:
        rate = spec.rate
        if self.cfg.total_rate is not None and self.cfg.symbols:
            base = sum(s.rate for s in self.cfg.symbols) or 1.0
            rate = spec.rate * self.cfg.total_rate / base
        book = self._add_book(spec, rate, history=False)
        self.stats["listings"] += 1
        if self.t0:
            self._schedule(book, trio.current_time() - self.t0)

    def prime(self, t0: float) -> None:
        """Start the clock at trio time ``t0`` (``step(elapsed)`` then drives it)."""
        self.t0 = t0
        self.epoch0_ms = max(self.epoch0_ms, int(time.time() * 1000))
        for sym in self.order:
            self._schedule(self.books[sym], 0.0)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.prime(trio.current_time())
        task_status.started()
        tick = self.cfg.tick_s
        while True:
            await trio.sleep(tick)
            self.step(trio.current_time() - self.t0)

    # -- one tick -------------------------------------------------------------------------
    def step(self, elapsed: float) -> None:
        while self._listings and self._listings[0][0] <= elapsed:
            self.list_symbol(self._listings.pop(0)[1])
        while self._status and self._status[0][0] <= elapsed:
            _, sym, status = self._status.pop(0)
            self.set_status(sym, status)
        for trig in (self.f_drop, self.f_dup, self.f_bad, self.f_reorder):
            trig.advance(elapsed)
        self._connection_faults(elapsed)
        if self.frozen:
            return
        now_ms = self.epoch0_ms + int(elapsed * 1000)
        touched: set[Subscriber] = set()
        heap = self._heap
        while heap and heap[0][0] <= elapsed:
            due, _, sym = heapq.heappop(heap)
            book = self.books[sym]
            if book.status != "TRADING" or book.rate <= 0:
                book.next_due = 0.0
                continue
            t_ms = self.epoch0_ms + int(due * 1000)
            idxs = book.add_group(book.group_size(), t_ms)
            self.stats["trades"] += len(idxs)
            self._emit(book, idxs, max(now_ms, book.t[idxs[-1]]), touched)
            book.next_due = due + book.next_gap()
            self._seq += 1
            heapq.heappush(heap, (book.next_due, self._seq, sym))
        for sub in touched:
            sub.flush()

    def _connection_faults(self, elapsed: float) -> None:
        self.f_stall.advance(elapsed)
        self.f_abort.advance(elapsed)
        if not (self.f_stall.live or self.f_abort.live):
            return
        conns = {c for group in self.subs.values() for c in group}
        scale = self.cfg.tick_s
        for conn in sorted(conns, key=lambda c: c.seq):
            if self.f_stall.fire(scale):
                self.stats["stalls"] += 1
                conn.stall(self.cfg.faults.stall_s)
            if self.f_abort.fire(scale):
                self.stats["aborts"] += 1
                conn.abort()

    def _emit(self, book: Book, idxs: range, e_ms: int, touched: set[Subscriber]) -> None:
        subs = self.subs.get(book.stream)
        payloads: list[bytes] = []
        for i in idxs:
            book.e_delay[i] = e_ms - book.t[i]
            if self.f_drop.fire():
                self.stats["dropped"] += 1
                continue
            frame = book.frame(i, e_ms)
            if self.f_bad.fire():
                self.stats["malformed"] += 1
                frame = malformed(frame, self.rng)
            payloads.append(frame)
            if self.f_dup.fire():
                self.stats["duplicated"] += 1
                payloads.append(frame)
        if len(idxs) > 1 and self.f_reorder.fire():
            self.stats["reordered_bursts"] += 1
            self.rng.shuffle(payloads)
        if not subs or not payloads:
            return
        prefix = b'{"stream":"' + book.stream.encode() + b'","data":'
        for sub in subs:
            for payload in payloads:
                sub.push(payload, prefix + payload + b"}")
            touched.add(sub)

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(self, sub: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            self.subs.setdefault(name, set()).add(sub)

    def unsubscribe(self, sub: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            group = self.subs.get(name)
            if group is not None:
                group.discard(sub)
                if not group:
                    del self.subs[name]

    # -- control ------------------------------------------------------------------------------
    def set_status(self, symbol: str, status: str) -> None:
        book = self.books[symbol]
        was = book.status
        book.status = status
        self.stats["status_changes"] += 1
        if status == "TRADING" and was != "TRADING" and self.t0:
            book.next_due = 0.0
            self._schedule(book, trio.current_time() - self.t0)

    def in_hole(self, symbol: str, a: int) -> bool:
        return any(lo <= a <= hi for lo, hi in self.holes.get(symbol, ()))


def malformed(frame: bytes, rng: random.Random) -> bytes:
    """A broken copy of ``frame``: truncated JSON, a missing field, or a wrong type."""
    kind = rng.randrange(3)
    if kind == 0:
        return frame[: max(1, len(frame) // 2)]
    if kind == 1:
        start = frame.index(b',"a":')
        end = frame.index(b",", start + 1)
        return frame[:start] + frame[end:]
    start = frame.index(b'"p":"') + 4
    end = frame.index(b'"', start + 1)
    return frame[:start] + frame[start + 1 : end] + frame[end + 1 :]


def truth_rows(books: Iterable[Book]) -> list[dict[str, Any]]:
    return [book.truth_row(i) for book in books for i in range(len(book))]
