"""Trade generation: determinism for a seed, id/f/l continuity, frame bytes like Binance's."""

from __future__ import annotations

import itertools
import re
from typing import Any

import orjson

from orders_cli.sim import SimConfig
from orders_cli.sim.engine import Engine, malformed
from tests.datafiles import SPOT_FRAMES
from tests.sim.simhelpers import small_config

FIXTURE = SPOT_FRAMES
DEC8 = re.compile(r"^\d+\.\d{8}$")


def _run(cfg: SimConfig, step: float, until: float = 3.0) -> Engine:
    engine = Engine(cfg)
    engine.prime(0.0)
    t = 0.0
    while t < until:
        t = min(until, t + step)
        engine.step(t)
    return engine


def _without_time(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for sym, book in engine.books.items():
        rows = [book.truth_row(i) for i in range(len(book))]
        out[sym] = [{k: v for k, v in r.items() if k not in ("T", "E")} for r in rows]
    return out


def test_same_seed_same_sequences_whatever_the_timing() -> None:
    cfg = small_config(history_s=5.0)
    a = _without_time(_run(cfg, 0.01))
    b = _without_time(_run(cfg, 0.37))
    assert sum(len(v) for v in a.values()) > 500
    assert a == b


def test_another_seed_differs() -> None:
    a = _without_time(_run(small_config(seed=1), 0.05))
    b = _without_time(_run(small_config(seed=2), 0.05))
    assert a != b


def test_ids_fills_and_times_are_contiguous_and_ordered() -> None:
    engine = _run(small_config(history_s=2.0), 0.02)
    for sym, book in engine.books.items():
        rows = [book.truth_row(i) for i in range(len(book))]
        if not rows:
            continue
        assert rows[0]["a"] == book.spec.first_id, sym
        for prev, cur in itertools.pairwise(rows):
            assert cur["a"] == prev["a"] + 1
            assert cur["f"] == prev["l"] + 1
            assert cur["T"] >= prev["T"]
        for r in rows:
            assert r["l"] >= r["f"]
            assert r["E"] >= r["T"]
            assert DEC8.match(r["p"]) and DEC8.match(r["q"])
            assert r["p"] != "0.00000000" and r["q"] != "0.00000000"
    assert len(engine.books["BTCUSDT"]) > 0
    assert len(engine.books["IDLEUSDT"]) == 0
    old = engine.books["OLDUSDT"]  # BREAK: history only, nothing live
    assert len(old) > 0 and max(old.t) < engine.epoch0_ms


def test_bursts_share_a_trade_time() -> None:
    engine = _run(small_config(), 0.02)
    book = engine.books["ETHUSDT"]  # burst_p=0.5
    times = list(book.t)
    assert len(times) > len(set(times)) + 10


def test_frame_bytes_match_the_recorded_shape() -> None:
    recorded = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines()[:50]]
    ref = recorded[0]["data"]
    engine = _run(small_config(), 0.05, until=1.0)
    book = engine.books["BTCUSDT"]
    frame = book.frame(0, book.t[0] + 1)
    data = orjson.loads(frame)
    assert list(data) == list(ref) == ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"]
    assert {k: type(v) for k, v in data.items()} == {k: type(v) for k, v in ref.items()}
    # compact separators, exactly as orjson (and Binance) write it
    assert orjson.dumps(data) == frame
    for line in FIXTURE.read_bytes().splitlines()[:50]:
        assert orjson.dumps(orjson.loads(line)) == line
    assert DEC8.match(data["p"])


def test_price_keeps_trailing_zeros() -> None:
    engine = _run(small_config(), 0.05, until=1.0)
    data = orjson.loads(engine.books["BTCUSDT"].frame(0, 1))
    assert data["p"].endswith("0") and len(data["p"].split(".")[1]) == 8


def test_non_ascii_symbol_frame_is_utf8() -> None:
    engine = _run(small_config(), 0.05, until=2.0)
    frame = engine.books["币安人生USDT"].frame(0, 1)
    assert "币安人生USDT".encode() in frame
    assert orjson.loads(frame)["s"] == "币安人生USDT"


def test_malformed_frames_are_broken() -> None:
    import random

    engine = _run(small_config(), 0.05, until=1.0)
    frame = engine.books["BTCUSDT"].frame(0, 1)
    rng = random.Random(3)
    kinds = set()
    for _ in range(30):
        bad = malformed(frame, rng)
        try:
            obj = orjson.loads(bad)
        except orjson.JSONDecodeError:
            kinds.add("truncated")
            continue
        if "a" not in obj:
            kinds.add("missing")
        elif not isinstance(obj["p"], str):
            kinds.add("type")
    assert kinds == {"truncated", "missing", "type"}


def test_total_rate_rescales() -> None:
    cfg = small_config(total_rate=1000.0)
    assert abs(sum(cfg.rates()) - 1000.0) < 1e-6


def test_from_fixture_universe() -> None:
    cfg = SimConfig.from_fixture(n_symbols=300, seed=1, total_rate=500.0)
    names = [s.symbol for s in cfg.symbols]
    assert names[0] == "BTCUSDT"
    assert "币安人生USDT" in names
    assert len({s.symbol for s in cfg.symbols if s.status == "TRADING"}) >= 300
    assert any(s.status == "BREAK" for s in cfg.symbols)
    assert any(s.first_id > 2**31 for s in cfg.symbols)
    assert any(s.permission_sets == (("TRD_GRP_005",),) for s in cfg.symbols)
    rates = [s.rate for s in cfg.symbols[:300]]
    assert rates == sorted(rates, reverse=True) and rates[0] > 20 * rates[-1]
