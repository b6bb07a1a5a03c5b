"""What the commands that work on PostgreSQL directly share: run a coroutine on the configured
database (at the newest schema revision) and name who is acting."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from cli.context import CliState
from storage.urls import resolve_url

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


def run_on_database(ctx: typer.Context, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``action`` on an engine for the configured ``database_url`` (or the running embedded
    PostgreSQL); refuses a database that is not at the newest schema revision."""
    from sqlalchemy.pool import NullPool  # noqa: PLC0415 - keep `vigil --help` fast

    from cli.ui_commands import require_schema  # noqa: PLC0415
    from storage.database import create_engine  # noqa: PLC0415

    state = ctx.find_object(CliState) or CliState()
    url = resolve_url(state.settings, "database_url")
    require_schema(url)

    async def go() -> T:
        engine = create_engine(url, poolclass=NullPool)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def login() -> str:
    """The operating-system user running the command (``unknown`` when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"
