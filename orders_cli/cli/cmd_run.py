"""`orders run`: Ingest every trade of the chosen market into Redis."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def run() -> None:
        """Ingest every trade of the chosen market into Redis. (not built yet)"""
        raise not_built("run", "issues")
