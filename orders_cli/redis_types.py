"""The type of the synchronous Redis client every layer is handed.

A single server (``redis.Redis``) today; ``redis.RedisCluster`` (not a subclass of
``redis.Redis``) is part of it so that code written against this type keeps working when
a cluster client is passed.
"""

from __future__ import annotations

from typing import TypeAlias

import redis

RedisClient: TypeAlias = redis.Redis | redis.RedisCluster
