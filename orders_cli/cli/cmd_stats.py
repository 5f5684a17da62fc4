"""`orders stats`: Show the current window and bars of a symbol."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "stats",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def stats() -> None:
        """Show the current window and bars of a symbol. (not built yet)"""
        raise not_built("stats", "issues")
