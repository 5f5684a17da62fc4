"""`orders prune`: Apply retention in one cron-safe pass."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "prune",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def prune() -> None:
        """Apply retention in one cron-safe pass. (not built yet)"""
        raise not_built("prune", "issues")
