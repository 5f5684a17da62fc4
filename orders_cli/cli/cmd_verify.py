"""`orders verify`: Find missing or duplicate trades; cross-check with REST; --repair."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "verify",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def verify() -> None:
        """Find missing or duplicate trades; cross-check with REST; --repair. (not built yet)"""
        raise not_built("verify", "issues")
