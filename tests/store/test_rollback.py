"""Redis went back in time under the writer (a restart that lost the last second of an
``appendfsync everysec`` AOF, a restore of an older snapshot): a state revision or
watermark lower than the writer committed is reloaded and re-gapped, reported, never an
error; quiet symbols are found too, not only the one whose write conflicted."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from orders_cli.errors import RedisUnavailable
from orders_cli.messages import Backfilled, GapRequest, HeadSeen
from orders_cli.store import packed
from tests.store.test_processor import KS, Clock, gaps, make, stored_ids, stream_ids, trade


@pytest.fixture
def r(redis_shared: Any) -> Any:
    return redis_shared.client()


def _snapshot(r: Any) -> dict[bytes, bytes]:
    return {k: r.dump(k) for k in r.keys("*")}


def _restore(r: Any, snapshot: dict[bytes, bytes]) -> None:
    """Every key back to the snapshot, on the same connection: no error for the writer
    to see, only older data."""
    r.flushdb()
    for key, value in snapshot.items():
        r.restore(key, 0, value)


def test_an_older_state_is_reloaded_and_its_lost_trades_re_gapped(r: Any) -> None:
    p = make(r, Clock())
    p.process([trade(a) for a in range(1, 6)])
    older = _snapshot(r)
    p.process([trade(a) for a in range(6, 11)])  # acknowledged, then lost
    _restore(r, older)
    out = p.process([HeadSeen("BTCUSDT", 12)])
    assert out.rolled_back == ["BTCUSDT"]
    assert out.counters["state_rollbacks"] == 1
    assert out.gap_requests == [GapRequest("BTCUSDT", 6, 12, priority=0)]
    assert [g[:2] for g in gaps(r)] == [[6, 12]]
    p.process([Backfilled("BTCUSDT", tuple(trade(a) for a in range(6, 13)))])
    assert stored_ids(r) == list(range(1, 13))
    assert sorted(stream_ids(r)) == list(range(1, 13))
    assert gaps(r) == []


def test_a_quiet_symbol_that_went_back_is_found_after_another_ones_conflict(r: Any) -> None:
    p = make(r, Clock())
    p.process([trade(1), trade(1, sym="ETHUSDT")])
    older = _snapshot(r)
    p.process([trade(2), trade(2, sym="ETHUSDT")])
    _restore(r, older)
    out = p.process([trade(3)])  # only BTCUSDT trades again: its write conflicts
    assert out.rolled_back == ["BTCUSDT"]
    out = p.process([])  # ETHUSDT gets nothing, yet its lost trade is found
    assert out.rolled_back == ["ETHUSDT"]
    assert int(r.hget(KS.state("ETHUSDT"), "watermark")) == 1


def test_a_rollback_found_by_a_round_that_then_lost_redis_is_reported_by_the_next_one(
    r: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failover: the reload finds the older state, then the round's apply loses its
    connection (a node still dying). The next round that goes through reports it."""
    p = make(r, Clock())
    p.process([trade(a) for a in range(1, 6)])
    older = _snapshot(r)
    p.process([trade(a) for a in range(6, 11)])  # acknowledged, then lost
    _restore(r, older)
    real = packed.execute_routed
    drops = [2]

    def dropping(*args: Any, **kwargs: Any) -> Any:
        if drops[0]:
            drops[0] -= 1
            raise redis.exceptions.ConnectionError("connection reset")
        return real(*args, **kwargs)

    monkeypatch.setattr(packed, "execute_routed", dropping)
    for _ in range(2):  # the first drop: reload everything; the second: after the reload
        with pytest.raises(RedisUnavailable):
            p.process([HeadSeen("BTCUSDT", 12)])
    out = p.process([HeadSeen("BTCUSDT", 12)])
    assert out.rolled_back == ["BTCUSDT"]
    assert out.counters["state_rollbacks"] == 1
    assert out.gap_requests == [GapRequest("BTCUSDT", 6, 12, priority=0)]
