"""A `vigil`-like Typer app for CLI tests: one topic's commands with injected settings."""

from __future__ import annotations

from collections.abc import Callable

import typer

from cli.context import CliState
from config.settings import Settings


def cli_with(register: Callable[[typer.Typer], None], settings: Settings) -> typer.Typer:
    """An app with the commands ``register`` adds, reading ``settings`` instead of the env."""
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        state = CliState()
        state._settings = settings  # inject the test settings
        ctx.obj = state

    register(app)
    return app
