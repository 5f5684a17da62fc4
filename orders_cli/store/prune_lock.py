"""The prune lock: ``SET key token NX PX ttl``; refreshed and released only by its owner
(compare-and-pexpire / compare-and-delete in Lua), so two prunes never overlap and a killed
prune's lock expires by itself after ``ttl_ms``.

On a full Redis (``maxmemory`` with ``noeviction``) the ``SET`` is refused with ``OOM``
while deletes still go through: prune is the tool that frees memory, so it then checks
(``GET``) that no other prune holds the lock and runs without it (``unlocked``)."""

from __future__ import annotations

import contextlib
import secrets
import types

import redis

from orders_cli.errors import LockHeld
from orders_cli.redis_errors import LOST, classify
from orders_cli.redis_types import RedisClient

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class PruneLock:
    """Context manager holding ``key`` for ``ttl_ms`` (refresh with :meth:`refresh`)."""

    def __init__(self, client: RedisClient, key: str, ttl_ms: int = 60_000) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = secrets.token_hex(16)
        self.held = False
        self.unlocked = False  # running without the lock: Redis refused it (OOM)

    def acquire(self) -> None:
        try:
            taken = self.client.set(self.key, self.token, nx=True, px=self.ttl_ms)
        except redis.ResponseError as exc:
            if classify(exc).code != "OOM":
                raise
            if self.client.get(self.key) is None:
                self.unlocked = True
                return
            taken = False
        if not taken:
            pttl = self.client.pttl(self.key)
            raise LockHeld(f"another prune holds {self.key} (expires in {max(pttl, 0)} ms)")
        self.held = True

    def refresh(self) -> None:
        """Extend the lock; raises :class:`LockHeld` if we lost it (expired, taken)."""
        if not self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl_ms):
            self.held = False
            raise LockHeld(f"lost the prune lock {self.key} (expired during the pass)")

    def release(self) -> None:
        if self.held:
            self.client.eval(_RELEASE, 1, self.key, self.token)
            self.held = False

    def __enter__(self) -> PruneLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        # Redis gone: the lock expires by itself after ttl_ms
        with contextlib.suppress(*LOST):
            self.release()
