"""A Sentinel failover under a running ingester (``redis+sentinel://``): the primary is
SIGKILLed mid-run, the sentinel promotes the replica, the run reconnects to it through the
sentinel, reloads the states that went back (replication is async: the replica lacks the
last acknowledged writes) and refills them from REST. Every trade acknowledged before the
kill is in the store at the end and the store equals the simulator's truth exactly; also
when the old primary comes back as a replica and the sentinel fails back to it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import pytest
import redis
import trio

from orders_cli.sim import SimConfig
from tests.integration.harness import KS, Run, run_until_complete, stored
from tests.redis_server import RedisServer
from tests.redis_topologies import MASTER_NAME, SentinelSet

pytestmark = pytest.mark.integration

FAILOVER_S = 30.0
POLL_S = 0.1
Acked = dict[str, set[int]]


async def until(what: str, check: Callable[[], bool], within_s: float = FAILOVER_S) -> None:
    """Poll ``check`` (in a thread: it talks to Redis) until true, within ``within_s``."""
    with trio.move_on_after(within_s):
        while True:
            try:
                if await trio.to_thread.run_sync(check):
                    return
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            await trio.sleep(POLL_S)
    raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")


def acknowledged(server: RedisServer) -> Acked:
    """The trade ids ``server`` holds now, by symbol: what the writer has been told is
    stored."""
    with server.client() as r:
        symbols = [s.decode() for s in r.smembers(KS.symbols())]
        return {s: {int(m["agg_trade_id"]) for m in stored(r, s)} for s in symbols}


def lost(acked: Acked, client: redis.Redis) -> Acked:
    """What of ``acked`` the store behind ``client`` does not hold."""
    out = {}
    for symbol, ids in acked.items():
        missing = ids - {int(m["agg_trade_id"]) for m in stored(client, symbol)}
        if missing:
            out[symbol] = missing
    return out


def role(server: RedisServer) -> str:
    with server.client() as r:
        return str(r.info("replication").get("role"))


def replica_of(server: RedisServer, primary: RedisServer) -> bool:
    with server.client() as r:
        info = r.info("replication")
    return (
        info.get("role") == "slave"
        and int(info.get("master_port", 0)) == primary.port
        and info.get("master_link_status") == "up"
    )


@contextlib.contextmanager
def logs_on_failure(sentinels: SentinelSet) -> Iterator[None]:
    """Print the sentinel's and the servers' logs (shown with a failed test): what the
    sentinel decided and when."""
    try:
        yield
    except BaseException:
        for server in (sentinels.sentinel, sentinels.primary, sentinels.replica):
            print(f"===== {server.port}: {server.log}")
            print(server.log.read_text(errors="replace")[-6000:])
        raise


async def kill_primary(sentinels: SentinelSet, acked: Acked) -> None:
    """SIGKILL the primary after cutting its replica off (frozen, so that it cannot
    reconnect: what the primary acknowledges meanwhile never reaches it), then wait until
    the sentinel has promoted the replica."""
    with trio.fail_after(5):
        sentinels.replica.pause()
        try:
            with sentinels.primary.client() as r:
                r.client_kill_filter(_type="replica")
            await trio.sleep(0.5)  # < down-after: the sentinel still counts on the replica
            acked.update(await trio.to_thread.run_sync(acknowledged, sentinels.primary))
            sentinels.primary.kill()
        finally:
            sentinels.replica.resume()
    port = sentinels.replica.port
    await until("the replica promoted", lambda: sentinels.current_primary_port() == port)
    await until("the replica taking writes", lambda: role(sentinels.replica) == "master")
    await until("the sentinel settled on it", lambda: settled(sentinels, port))


def settled(sentinels: SentinelSet, port: int) -> bool:
    """The sentinel names the primary on ``port``, sees it up and is not failing over."""
    with redis.Redis(port=sentinels.sentinel.port, socket_timeout=5.0) as s:
        master = s.sentinel_master(MASTER_NAME)
    busy = ("is_sdown", "is_odown", "is_failover_in_progress")
    return int(master["port"]) == port and not any(master.get(f) for f in busy)


def stored_now(run: Run) -> int:
    return run.telemetry.counters["trades_stored"]


def address_of(run: Run) -> tuple[str, int] | None:
    address: tuple[str, int] | None = run.redis.connection_pool.master_address
    return address


async def test_a_killed_primary_fails_over_and_the_store_still_equals_the_truth(
    redis_sentinel: SentinelSet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orders")
    sentinels = redis_sentinel
    acked: Acked = {}

    async def failover(run: Run) -> None:
        await until("trades stored", lambda: stored_now(run) >= 200, 5)
        await kill_primary(sentinels, acked)
        await trio.sleep(2.0)  # trading goes on against the new primary

    cfg = SimConfig.from_fixture(n_symbols=30, seed=21, total_rate=300.0)
    with trio.fail_after(100), logs_on_failure(sentinels):
        run, diff = await run_until_complete(
            cfg,
            redis_sentinel.url,
            live_s=8.0,
            settle_timeout=40.0,
            during=failover,
            sweep=False,  # the rollback's head checks refill the lost tails, not a sweep
        )
    assert acked, "the primary was killed mid-run"
    c = run.telemetry.counters
    assert diff.clean, (diff.summary(), dict(c))
    assert not lost(acked, run.redis), "every trade acknowledged before the kill is stored"
    assert c["state_rollbacks"] > 0, "the replica lacked acknowledged writes: reloaded"
    assert address_of(run) == ("127.0.0.1", sentinels.replica.port)
    moved = f"{MASTER_NAME} at 127.0.0.1:{sentinels.replica.port}"
    assert run.telemetry.redis_primary == moved
    said = [r.getMessage() for r in caplog.records if r.name.startswith("orders")]
    assert any(moved in m and "failover" in m for m in said), said


def sentinel_sees_replica(sentinels: SentinelSet, server: RedisServer) -> bool:
    """The sentinel counts ``server`` as a replica it could promote."""
    with redis.Redis(port=sentinels.sentinel.port, socket_timeout=5.0) as s:
        replicas = s.sentinel_slaves(MASTER_NAME)
    return any(
        int(r.get("port", 0)) == server.port
        and r.get("is_slave")
        and not (r.get("is_sdown") or r.get("is_disconnected"))
        and r.get("master-link-status") == "ok"
        for r in replicas
    )


def fail_over(sentinels: SentinelSet) -> bool:
    """``SENTINEL FAILOVER``: False while the sentinel finds no replica to promote yet."""
    with redis.Redis(port=sentinels.sentinel.port, socket_timeout=5.0) as s:
        try:
            return bool(s.sentinel_failover(MASTER_NAME))
        except redis.ResponseError as exc:
            if "NOGOODSLAVE" in str(exc) or "INPROG" in str(exc):
                return False
            raise


async def test_the_old_primary_back_as_a_replica_and_a_failback_to_it_are_survived(
    redis_sentinel: SentinelSet,
) -> None:
    """The killed primary restarts as a replica of the promoted one (empty: no
    persistence; it resyncs), then the sentinel fails back to it. The demoted primary stays
    writable until the sentinel converts it (some 15 s later, cutting its clients off):
    the run must move to the new primary within seconds, by asking the sentinel, not keep
    writing to the demoted one (what it takes is lost when it resyncs, and then it answers
    READONLY)."""
    sentinels = redis_sentinel
    old, new = sentinels.primary, sentinels.replica
    acked: Acked = {}
    steps: list[str] = []

    async def failover_and_back(run: Run) -> None:
        await until("trades stored", lambda: stored_now(run) >= 200, 5)
        await kill_primary(sentinels, acked)
        old.extra_args = ("--replicaof", "127.0.0.1", str(new.port))
        with trio.fail_after(10):
            await trio.to_thread.run_sync(old.restart)
        await until("the old primary in sync with the new one", lambda: replica_of(old, new), 10)
        await until(
            "the sentinel to count on it", lambda: sentinel_sees_replica(sentinels, old), 20
        )
        steps.append("old primary back as a replica")
        await until("the sentinel to fail back", lambda: fail_over(sentinels), 10)
        await until("the failback", lambda: sentinels.current_primary_port() == old.port, 15)
        assert role(new) == "master", "the sentinel has not demoted the former primary yet"
        back = ("127.0.0.1", old.port)
        await until("the run writing to the new primary", lambda: address_of(run) == back, 5)
        steps.append("failed back")
        await until("the former primary demoted", lambda: replica_of(new, old), 30)
        steps.append("former primary demoted")
        await trio.sleep(1.0)

    cfg = SimConfig.from_fixture(n_symbols=30, seed=22, total_rate=300.0)
    with trio.fail_after(100), logs_on_failure(sentinels):
        run, diff = await run_until_complete(
            cfg,
            redis_sentinel.url,
            live_s=40.0,
            settle_timeout=30.0,
            during=failover_and_back,
            sweep=False,
        )
    c = run.telemetry.counters
    assert len(steps) == 3, steps
    assert diff.clean, (diff.summary(), dict(c))
    assert not lost(acked, run.redis)
    assert c["state_rollbacks"] > 0
    assert address_of(run) == ("127.0.0.1", old.port)
    assert run.telemetry.redis_primary == f"{MASTER_NAME} at 127.0.0.1:{old.port}"
