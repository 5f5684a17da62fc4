"""`orders verify` against a private redis-server and the simulator's REST."""

from __future__ import annotations

import time
from typing import Any

import attrs
import orjson
import pytest

from orders_cli.ops.verify_ids import IdRange
from orders_cli.store import gaps as gapops
from orders_cli.store.member import encode_member, stream_fields
from tests.ops.verify_helpers import (
    KS,
    OTHER,
    SYM,
    cli,
    delete_trade,
    running_sim,
    sim_config,
    store,
    truth_trades,
    verify,
)

pytestmark = pytest.mark.integration


def _args(redis_server: Any, sim: Any, *extra: str) -> list[str]:
    return ["--redis-url", redis_server.url, "--rest-url", sim.rest_url, "--json", *extra]


async def test_missing_trade_is_found_repaired_then_clean(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        assert len(trades) > 100
        store(r, trades + truth_trades(sim, OTHER))

        code, rows, err = await cli(*_args(redis_server, sim))
        assert code == 0, (rows, err)
        assert "HTTP Request" not in err  # the REST library's per-request lines stay hidden
        assert {row["symbol"] for row in rows[:-1]} == {SYM, OTHER}
        assert rows[-1]["summary"] and rows[-1]["ok"]

        victim = trades[50].agg_id
        delete_trade(r, SYM, victim)
        code, rows, _ = await cli(*_args(redis_server, sim, SYM))
        assert code == 1
        assert rows[0]["missing"] == [[victim, victim]] and rows[0]["exchange_side"] == []
        assert rows[0]["stream_missing"] == [] and rows[0]["duplicates"] == {}

        code, rows, _ = await cli(*_args(redis_server, sim, SYM, "--repair"))
        assert code == 1  # problems were found (and fixed)
        assert rows[0]["repaired"] == 1

        code, rows, err = await cli(*_args(redis_server, sim, SYM))
        assert code == 0, (rows, err)
        members = [orjson.loads(m) for m in r.zrange(KS.trades_latest(SYM), 0, -1)]
        assert [int(m["agg_trade_id"]) for m in members] == [t.agg_id for t in trades]
        stream_ids = [int(f[b"a"]) for _, f in r.xrange(KS.trades_stream(SYM))]
        assert sorted(stream_ids) == [t.agg_id for t in trades]


async def test_repair_never_appends_a_stream_entry_that_is_already_there(
    redis_server: Any,
) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades)
        victim = trades[40]
        members = r.zrangebyscore(KS.trades_latest(SYM), victim.trade_time, victim.trade_time)
        gone = [m for m in members if orjson.loads(m)["agg_trade_id"] == str(victim.agg_id)]
        assert r.zrem(KS.trades_latest(SYM), *gone) == 1  # the ZSET lost it, the stream did not
        before = r.xrange(KS.trades_stream(SYM))

        report = await verify(r, sim, SYM, repair=True, grace_ms=0)
        rep = report.symbols[0]
        assert rep.stream_extra == [IdRange(victim.agg_id, victim.agg_id)]
        assert rep.repaired == 1

        assert r.xrange(KS.trades_stream(SYM)) == before  # nothing appended
        stored = [
            int(orjson.loads(m)["agg_trade_id"]) for m in r.zrange(KS.trades_latest(SYM), 0, -1)
        ]
        assert sorted(stored) == [t.agg_id for t in trades]
        assert gone[0] in r.zrange(KS.trades_latest(SYM), 0, -1)  # the same member, byte for byte
        clean = await verify(r, sim, SYM, grace_ms=0)
        assert clean.clean, clean.symbols[0]


async def test_head_behind_rest_is_missing_and_repaired(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades[:-5])
        report = await verify(r, sim, SYM, grace_ms=0)  # the newest trades are seconds old
        rep = report.symbols[0]
        assert rep.rest_head == trades[-1].agg_id
        assert rep.missing == [IdRange(trades[-5].agg_id, trades[-1].agg_id)]
        assert not report.clean

        report = await verify(r, sim, SYM, repair=True, grace_ms=0)
        assert report.symbols[0].repaired == 5
        report = await verify(r, sim, SYM)
        assert report.clean, report.symbols[0].as_dict()
        assert report.symbols[0].last_id == trades[-1].agg_id


async def test_range_rest_lacks_is_exchange_side_and_clean(redis_server: Any) -> None:
    """Must-show: REST itself lacks a range: reported as exchange-side, exit 0."""
    r = redis_server.client()
    lo, hi = 1100, 1109
    async with running_sim(sim_config(holes=((SYM, lo, hi),))) as sim:
        trades = truth_trades(sim, SYM)
        assert trades[0].agg_id < lo and trades[-1].agg_id > hi
        store(r, [t for t in trades if not lo <= t.agg_id <= hi])
        # one more truly missing id, so both kinds are seen in one run
        delete_trade(r, SYM, 1050)

        report = await verify(r, sim, SYM)
        rep = report.symbols[0]
        assert rep.exchange_side == [IdRange(lo, hi)]
        assert rep.missing == [IdRange(1050, 1050)]

        await verify(r, sim, SYM, repair=True)  # fills 1050, marks lo..hi exchange-side
        gaps = gapops.decode_gaps(r.hget(KS.state(SYM), "gaps"))
        assert [(g.first, g.last, g.exchange_side) for g in gaps] == [(lo, hi, True)]

        code, rows, err = await cli(*_args(redis_server, sim, SYM))
        assert code == 0, (rows, err)
        assert rows[0]["exchange_side"] == [[lo, hi]] and rows[0]["missing"] == []
        assert rows[0]["exchange_side_count"] == hi - lo + 1


async def test_duplicates_in_stream_and_zset(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades)
        dup = trades[10]
        r.xadd(KS.trades_stream(SYM), dict(zip(*[iter(stream_fields(dup))] * 2, strict=True)))
        code, rows, _ = await cli(*_args(redis_server, sim, SYM))
        assert code == 1
        assert rows[0]["stream_duplicates"] == {str(dup.agg_id): 2}
        assert rows[0]["missing"] == [] and rows[0]["duplicates"] == {}

        # the same id twice in the ZSET (another member body: a different event_time)
        other = trades[20]
        twin = encode_member(attrs.evolve(other, event_time=other.trade_time + 1))
        r.zadd(KS.trades_latest(SYM), {twin: other.trade_time})
        report = await verify(r, sim, SYM)
        assert report.symbols[0].duplicates == {other.agg_id: 2}


async def test_lower_edge_is_not_a_hole(redis_server: Any) -> None:
    """Ids older than --since (retention) are not holes; nor is anything below the first
    stored id of the window."""
    r = redis_server.client()
    async with running_sim(sim_config(history_s=120.0)) as sim:
        trades = truth_trades(sim, SYM)
        newest = trades[-1].trade_time
        cut = newest - 30_000  # the window: the last 30 s of the history
        old = [t for t in trades if t.trade_time < cut - 5_000]
        store(r, trades)
        delete_trade(r, SYM, old[len(old) // 2].agg_id)  # older than the window
        # retention pruned everything before some id: the window starts after a gap
        for t in old[:20]:
            delete_trade(r, SYM, t.agg_id)
        since_ms = int(time.time() * 1000) - cut
        report = await verify(r, sim, SYM, since_ms=since_ms)
        rep = report.symbols[0]
        assert report.clean, rep.as_dict()
        assert rep.first_id == min(t.agg_id for t in trades if t.trade_time >= cut)
        # a hole inside the window is still found
        inside = [t for t in trades if t.trade_time >= cut]
        delete_trade(r, SYM, inside[3].agg_id)
        report = await verify(r, sim, SYM, since_ms=since_ms)
        assert report.symbols[0].missing == [IdRange(inside[3].agg_id, inside[3].agg_id)]


async def test_usage_and_connection_errors_exit_2(redis_server: Any) -> None:
    code, _, err = await cli("--redis-url", "redis://127.0.0.1:1/0", "--json")
    assert code == 2 and "error" in err
    code, _, err = await cli("--since", "soon", "--redis-url", redis_server.url)
    assert code == 2 and "duration" in err
    code, _, err = await cli("--grace", "soon", "--redis-url", redis_server.url)
    assert code == 2 and "duration" in err
    redis_server.client().sadd(KS.symbols(), SYM)
    code, _, err = await cli(
        SYM, "--redis-url", redis_server.url, "--rest-url", "http://127.0.0.1:1", "--json"
    )
    assert code == 2, err
    line = "orders: error: cannot reach the exchange REST API at http://127.0.0.1:1 ("
    assert err.startswith(line) and err.count("\n") == 1, err
    assert "the simulator prints its REST URL" in err


async def test_unknown_symbol_is_a_usage_error_before_rest(redis_server: Any) -> None:
    """Like ``orders tail NOSUCH``: one line, close matches, exit 2, no REST call (the
    REST URL here is unreachable)."""
    r = redis_server.client()
    r.sadd(KS.symbols(), SYM, OTHER)
    base = ["--redis-url", redis_server.url, "--rest-url", "http://127.0.0.1:1", "--json"]
    code, rows, err = await cli("AAAUSDX", *base)
    assert (code, rows) == (2, []), err
    assert err == f"orders: error: unknown symbol 'AAAUSDX' (not stored for market spot)" \
        f"; did you mean {SYM}?\n"  # fmt: skip
    code, rows, err = await cli(SYM, "NOSUCH", *base)
    assert (code, rows) == (2, []), err
    assert "unknown symbol 'NOSUCH'" in err and err.count("\n") == 1, err


async def test_symbol_with_nothing_stored_is_all_missing(redis_server: Any) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, OTHER)
        r.sadd(KS.symbols(), OTHER)
        report = await verify(r, sim, grace_ms=0)
        rep = report.symbols[0]
        assert rep.symbol == OTHER and rep.stored == 0
        assert rep.missing == [IdRange(trades[0].agg_id, trades[-1].agg_id)]
        report = await verify(r, sim, repair=True, grace_ms=0)
        assert report.symbols[0].repaired == len(trades)
        report = await verify(r, sim)
        assert report.clean and report.symbols[0].stored == len(trades)


async def test_a_window_missing_before_the_first_stored_id_is_found_and_repaired(
    redis_server: Any,
) -> None:
    """A cold start that lost its history window leaves the store starting at the first
    live id: the retention window before it exists at the exchange, so verify reports it
    (one REST call) and --repair fills it."""
    r = redis_server.client()
    async with running_sim(sim_config(history_s=120.0)) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades[100:])  # the first 100 trades of the window never came
        report = await verify(r, sim, SYM)
        rep = report.symbols[0]
        assert not report.clean
        assert rep.missing_window == IdRange(trades[0].agg_id, trades[99].agg_id)
        assert rep.as_dict()["missing_window_count"] == 100

        report = await verify(r, sim, SYM, repair=True)
        assert report.symbols[0].repaired == 100
        report = await verify(r, sim, SYM)
        assert report.clean, report.symbols[0].as_dict()
        members = [orjson.loads(m) for m in r.zrange(KS.trades_latest(SYM), 0, -1)]
        assert sorted(int(m["agg_trade_id"]) for m in members) == [t.agg_id for t in trades]


async def test_a_stream_kept_shorter_than_the_trades_is_compared_only_inside_its_window(
    redis_server: Any,
) -> None:
    r = redis_server.client()
    async with running_sim(sim_config()) as sim:
        trades = truth_trades(sim, SYM)
        store(r, trades)
        half = trades[len(trades) // 2]
        r.xtrim(KS.trades_stream(SYM), minid=f"{half.trade_time}-0", approximate=False)
        code, rows, err = await cli(*_args(redis_server, sim, SYM))
        assert code == 0, (rows, err)
        assert rows[0]["stream_missing"] == [] and rows[0]["missing"] == []

        inside = trades[-10]
        ids = [i for i, f in r.xrange(KS.trades_stream(SYM)) if int(f[b"a"]) == inside.agg_id]
        r.xdel(KS.trades_stream(SYM), *ids)
        code, rows, _ = await cli(*_args(redis_server, sim, SYM))
        assert code == 1
        assert rows[0]["stream_missing"] == [[inside.agg_id, inside.agg_id]]
