"""Redis error replies against a real redis-server: classified once by their code;
a refusal that passes (OOM, READONLY, MISCONF) keeps the data and is retried, a batch
Redis rejects for good is quarantined as a gap without blocking the other symbols."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import redis
import trio

from orders_cli.errors import RedisRefusing, RedisRejected
from orders_cli.pipeline.writer import Writer
from orders_cli.redis_errors import classify, redirected
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import EXCHANGE, claim
from orders_cli.store.worker import RedisWorker
from orders_cli.telemetry import Telemetry
from tests.redis_server import RedisServer
from tests.store.redis_faults import failing_persistence, out_of_memory, replica_of, until
from tests.store.test_processor import Clock, gaps, make, stored_ids, stream_ids, trade

KS = Keyspace()


def refusal_of(r: Any) -> str:
    try:
        r.set("k", "v")
    except redis.ResponseError as exc:
        return classify(exc).code
    raise AssertionError("the write went through")


def test_oom_readonly_and_misconf_replies_are_classified_as_refusals_that_pass(
    redis_server: RedisServer,
) -> None:
    r = redis_server.client()
    with out_of_memory(r):
        assert refusal_of(r) == "OOM"
    with replica_of(redis_server) as replica:
        assert refusal_of(replica.client()) == "READONLY"
    with failing_persistence(redis_server, r):
        assert refusal_of(r) == "MISCONF"
    assert classify(redis.ResponseError("WRONGTYPE Operation against a key")).code == "WRONGTYPE"
    assert not classify(redis.ResponseError("unknown command 'FOO'")).transient
    piped = "Command # 1 (SADD s BTC) of pipeline caused error: WRONGTYPE Operation against"
    assert classify(redis.ResponseError(piped)).code == "WRONGTYPE"
    wrapped = "Error running script (call to f_1): @user_script:9: -OOM command not allowed "
    assert classify(redis.ResponseError(wrapped)).code == "OOM"
    with pytest.raises(redis.ResponseError) as exc:
        r.evalsha("0" * 40, 0)
    assert classify(exc.value).noscript


def test_an_oom_round_keeps_every_symbols_inputs_and_stores_them_once_memory_is_back(
    redis_server: RedisServer,
) -> None:
    r = redis_server.client()
    p = make(r, Clock())
    p.process([trade(1), trade(2), trade(1, sym="ETHUSDT")])
    batch = [trade(3), trade(4), trade(2, sym="ETHUSDT")]
    with out_of_memory(r):
        out = p.process(batch)
    assert out.refusal is not None and out.refusal.reason == "OOM"
    assert sorted(out.refused) == ["BTCUSDT", "ETHUSDT"]
    retry = [i for items in out.refused.values() for i in items]
    assert sorted(map(id, retry)) == sorted(map(id, batch))
    assert p.process(retry).refusal is None
    assert stored_ids(r) == stream_ids(r) == [1, 2, 3, 4]
    assert stored_ids(r, "ETHUSDT") == [1, 2]


def test_a_batch_redis_rejects_is_quarantined_as_a_gap_and_the_other_symbols_are_stored(
    redis_shared: RedisServer,
) -> None:
    r = redis_shared.client()
    p = make(r, Clock())
    p.process([trade(1, sym="ETHUSDT"), trade(1)])
    r.delete(KS.trades_stream("ETHUSDT"))
    r.set(KS.trades_stream("ETHUSDT"), "not a stream")  # its XADD now answers WRONGTYPE
    out = p.process([trade(2, sym="ETHUSDT"), trade(3, sym="ETHUSDT"), trade(2), trade(3)])
    assert out.refusal is None and not out.refused
    assert stored_ids(r) == [1, 2, 3]
    # the symbol applied in the partly failed round counts as stored, not as duplicates
    assert out.counters["trades_stored"] == 2 and out.counters["duplicates"] == 0
    assert out.counters["quarantined_batches"] == 1
    assert out.counters["quarantined_trades"] == 2
    assert [g[:2] for g in gaps(r, "ETHUSDT")] == [[2, 3]]
    assert [(g.first, g.last) for g in out.gap_requests] == [(2, 3)]
    assert p.process([trade(4)]).counters["trades_stored"] == 1  # nothing left to retry


def test_the_writer_keeps_a_refused_batch_and_applies_it_once_redis_takes_writes(
    redis_server: RedisServer,
) -> None:
    r = redis_server.client()
    telemetry = Telemetry()

    async def main() -> None:
        send, recv = trio.open_memory_channel[Any](100)
        worker = RedisWorker(r, telemetry)
        writer = Writer(make(r, Clock()), worker, recv, None, telemetry, retry_max_s=0.2)
        with trio.fail_after(20):
            async with trio.open_nursery() as n:
                await n.start(writer.run)
                await send.send(trade(1))
                await until(lambda: stored_ids(r) == [1])
                with out_of_memory(r):
                    await send.send(trade(2))
                    await until(lambda: telemetry.redis_state == "refusing")
                    assert telemetry.redis_refusal == "OOM"
                    await trio.sleep(0.5)  # several retries: still up, still refused
                    assert stored_ids(r) == [1]
                await until(lambda: telemetry.redis_state == "ok")
                assert stored_ids(r) == [1, 2]
                await send.aclose()

    trio.run(main)
    assert telemetry.counters["redis_refusals"] >= 2
    assert stored_ids(r) == stream_ids(r) == [1, 2]


def test_worker_calls_map_error_replies_and_retry_the_keyspace_claim_through_readonly(
    redis_server: RedisServer,
) -> None:
    with replica_of(redis_server) as replica:
        rr = replica.client()

        async def main() -> None:
            worker = RedisWorker(rr)
            with pytest.raises(RedisRefusing) as refused:
                await worker.call(lambda c: c.set("k", "v"))
            assert refused.value.reason == "READONLY"
            with pytest.raises(RedisRejected):
                await worker.call(lambda c: c.execute_command("NOSUCHCOMMAND"))
            with trio.fail_after(20):
                async with trio.open_nursery() as n:
                    n.start_soon(partial(worker.run_retrying, claim, rr, KS, EXCHANGE))
                    await until(lambda: worker.telemetry.redis_refusal == "READONLY")
                    await trio.to_thread.run_sync(rr.replicaof, "NO", "ONE")
            assert worker.telemetry.redis_state == "ok"

        trio.run(main)
        assert rr.get(KS.origin()) == EXCHANGE.encode()


def test_the_writer_stays_up_through_a_store_wide_rejection_and_applies_once_fixed(
    redis_shared: RedisServer,
) -> None:
    r = redis_shared.client()
    r.set(KS.symbols(), "not a set")  # the round's SADD now answers WRONGTYPE
    telemetry = Telemetry()

    async def main() -> None:
        send, recv = trio.open_memory_channel[Any](100)
        worker = RedisWorker(r, telemetry)
        writer = Writer(make(r, Clock()), worker, recv, None, telemetry, retry_max_s=0.2)
        with trio.fail_after(20):
            async with trio.open_nursery() as n:
                await n.start(writer.run)
                await send.send(trade(1))
                await until(lambda: telemetry.redis_state == "rejecting")
                assert telemetry.redis_refusal == "WRONGTYPE"
                r.delete(KS.symbols())
                await until(lambda: telemetry.redis_state == "ok")
                await send.aclose()

    trio.run(main)
    assert stored_ids(r) == [1]


def test_a_flushed_script_cache_is_reloaded_and_the_batch_applied(
    redis_shared: RedisServer,
) -> None:
    r = redis_shared.client()
    p = make(r, Clock())
    p.process([trade(1)])
    r.script_flush()  # a restart or failover keeps the connection's view: NOSCRIPT
    out = p.process([trade(2)])
    assert out.counters["trades_stored"] == 1
    assert stored_ids(r) == stream_ids(r) == [1, 2]


@pytest.mark.parametrize(
    "exc",
    [
        redis.exceptions.MovedError("3999 127.0.0.1:7002", status_code="MOVED"),
        redis.exceptions.AskError("3999 127.0.0.1:7002", status_code="ASK"),
        redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"),
        # a MULTI/EXEC pipeline raises a queued command's error with its own preamble
        redis.exceptions.ResponseError(
            "Command # 1 (XREVRANGE k + - COUNT 1) of pipeline caused error: "
            "MOVED 3999 127.0.0.1:7002"
        ),
        redis.exceptions.ResponseError("CLUSTERDOWN The cluster is down"),
    ],
)
def test_a_moving_slot_map_is_recognised_however_redis_py_reports_it(
    exc: redis.exceptions.ResponseError,
) -> None:
    assert redirected(exc)
    assert classify(exc).transient


def test_an_error_of_the_command_itself_is_no_redirect() -> None:
    wrongtype = redis.exceptions.ResponseError(
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    )
    assert not redirected(wrongtype)
