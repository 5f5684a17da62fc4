"""`orders tail`: Follow a symbol's trades live from Redis."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "tail",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def tail() -> None:
        """Follow a symbol's trades live from Redis. (not built yet)"""
        raise not_built("tail", "issues")
