"""Commands that are not built yet say so and exit 2: no stub pretends to work."""

from __future__ import annotations

from orders_cli.errors import UsageError


def not_built(command: str, issue: str) -> UsageError:
    return UsageError(f"`orders {command}` is not built yet (tracked in: {issue})")
