"""`orders sim`: Run the Binance-compatible simulator (WebSocket + REST)."""

from __future__ import annotations

import typer

from orders_cli.cli.notbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "sim",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def sim() -> None:
        """Run the Binance-compatible simulator (WebSocket + REST). (not built yet)"""
        raise not_built("sim", "issues")
