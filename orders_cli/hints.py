"""Commands named in hints the way the user launched orders, so a pasted hint works.

``scripts/run`` exports ``ORDERS_LAUNCHER`` (its own path as typed, e.g. ``./scripts/run``);
an installed ``orders`` leaves it unset. Every log line or error that tells the user to
run a command formats it with :func:`command`."""

from __future__ import annotations

import os

LAUNCHER_ENV = "ORDERS_LAUNCHER"


def launcher() -> str:
    return os.environ.get(LAUNCHER_ENV) or "orders"


def command(args: str) -> str:
    """``command("verify --since 1h")`` -> ``orders verify --since 1h`` (or
    ``./scripts/run verify --since 1h`` when launched through scripts/run)."""
    return f"{launcher()} {args}"
