"""The Redis client is one named type, never ``Any``, and it covers Redis Cluster."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import Any, get_args

import redis

import orders_cli

CLIENT_NAMES = {"redis", "r", "client", "redis_client"}


def _modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(orders_cli.__path__, "orders_cli."):
        if not info.name.endswith("__main__"):  # importing it runs the CLI
            yield importlib.import_module(info.name)


def _functions(module: ModuleType) -> Iterator[Any]:
    for value in vars(module).values():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield value
        elif inspect.isclass(value):
            yield from (f for f in vars(value).values() if inspect.isfunction(f))


def test_no_redis_client_parameter_is_typed_any() -> None:
    untyped = sorted(
        f"{fn.__module__}.{fn.__qualname__}({name})"
        for module in _modules()
        for fn in _functions(module)
        for name, param in inspect.signature(fn).parameters.items()
        if name in CLIENT_NAMES and param.annotation in ("Any", Any)
    )
    assert untyped == []


def test_the_client_type_covers_a_single_server_and_a_cluster() -> None:
    from orders_cli.redis_types import RedisClient

    assert set(get_args(RedisClient)) == {redis.Redis, redis.RedisCluster}
