"""`orders status`: Health of the running ingester(s)."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "status",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def status() -> None:
        """Health of the running ingester(s). (not built yet)"""
        raise not_built("status", "issues")
