"""``vigil db ...``: the database schema (Alembic migrations).

The database is ``database_url`` from the settings (``VIGIL_DATABASE_URL``); when none is set,
the embedded PostgreSQL under ``data_dir`` if it is running (``vigil up`` starts it).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli.context import CliState
from storage.urls import resolve_url


def register(app: typer.Typer) -> None:
    """Add ``vigil db upgrade`` and ``vigil db current`` to ``app``."""
    db = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def upgrade(
        ctx: typer.Context,
        revision: Annotated[
            str, typer.Argument(help="Target revision (default: the newest).")
        ] = "head",
    ) -> None:
        """Apply migrations up to REVISION; does nothing when the schema is already there."""
        from storage import migrations  # noqa: PLC0415
        from storage.database import redacted  # noqa: PLC0415

        state: CliState = ctx.obj
        url = resolve_url(state.settings, "database_url")
        asyncio.run(migrations.upgrade(url, revision))
        now = asyncio.run(migrations.current_revision(url))
        typer.echo(f"database {redacted(url)} is at revision {now}")

    @db.command("current")
    def current(ctx: typer.Context) -> None:
        """Show the database's revision and the newest one this version of Vigil ships."""
        from storage import migrations  # noqa: PLC0415
        from storage.database import redacted  # noqa: PLC0415

        state: CliState = ctx.obj
        url = resolve_url(state.settings, "database_url")
        revision = asyncio.run(migrations.current_revision(url))
        head = migrations.head_revision()
        status = "up to date" if revision == head else "needs `vigil db upgrade`"
        typer.echo(
            f"database {redacted(url)}: revision {revision or 'none'} (newest {head}, {status})"
        )
