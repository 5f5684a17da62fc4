"""The error tree: one module holds every OrdersError, one helper finds one in a group."""

from __future__ import annotations

import importlib
import pkgutil

import orders_cli
from orders_cli.errors import (
    ExchangeUnavailable,
    OrdersError,
    RedisUnavailable,
    leaves,
    orders_error_in,
)


def _subclasses(cls: type[OrdersError]) -> set[type[OrdersError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_orders_error_subclass_is_defined_in_the_errors_module() -> None:
    for info in pkgutil.walk_packages(orders_cli.__path__, "orders_cli."):
        if not info.name.endswith("__main__"):  # importing it runs the CLI
            importlib.import_module(info.name)
    outside = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _subclasses(OrdersError)
        if cls.__module__ != "orders_cli.errors"
    )
    assert outside == []


def test_orders_error_in_returns_a_bare_orders_error_itself() -> None:
    err = RedisUnavailable("down")
    assert orders_error_in(err) is err


def test_orders_error_in_finds_the_first_orders_error_in_nested_groups() -> None:
    wanted = ExchangeUnavailable("unreachable")
    group = BaseExceptionGroup(
        "outer",
        [
            ValueError("x"),
            BaseExceptionGroup("inner", [KeyError("k"), wanted]),
            RedisUnavailable("r"),
        ],
    )
    assert orders_error_in(group) is wanted


def test_orders_error_in_is_none_when_the_group_holds_none() -> None:
    assert orders_error_in(ExceptionGroup("g", [ValueError("x")])) is None
    assert orders_error_in(ValueError("x")) is None


def test_leaves_flattens_nested_groups_in_order() -> None:
    a, b, c = ValueError("a"), KeyError("b"), OSError("c")
    group = BaseExceptionGroup("g", [a, BaseExceptionGroup("h", [b, c])])
    assert list(leaves(group)) == [a, b, c]
    assert list(leaves(a)) == [a]
