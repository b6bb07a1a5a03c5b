"""Alembic migrations, run programmatically: ``await upgrade(database_url)``.

``vigil db upgrade`` and ``vigil up`` call :func:`upgrade`. Concurrent upgrades (two processes
starting at once) are serialised by a PostgreSQL advisory lock, and the whole upgrade runs in one
transaction: it applies completely or not at all. New revisions go in ``versions/`` named
``NNNN_what.py`` with ``revision = "NNNN"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from core.errors import DependencyUnavailableError
from storage.database import create_engine, redacted

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent
_LOCK_KEY: Final = 0x76_69_67_69_6C  # "vigil": one advisory lock id for all upgrades


def alembic_config() -> Config:
    """An Alembic configuration pointing at this directory (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revisions under {MIGRATIONS_DIR}")
    return head


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database_url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision``; a no-op when it is there.

    Raises :class:`DependencyUnavailableError` when PostgreSQL cannot be reached.
    """
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        connection = await _connect(engine, database_url)
        try:
            async with connection.begin():
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                await connection.execute(lock, {"key": _LOCK_KEY})
                await connection.run_sync(_upgrade_on, revision)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def current_revision(database_url: str | URL) -> str | None:
    """The revision the database is at, or ``None`` when no migration was ever applied."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        connection = await _connect(engine, database_url)
        try:
            return await connection.run_sync(_current_on)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def _connect(engine: AsyncEngine, database_url: str | URL) -> AsyncConnection:
    try:
        return await engine.connect()
    except (OSError, DBAPIError) as exc:
        raise DependencyUnavailableError(
            f"cannot connect to PostgreSQL at {redacted(database_url)}: {exc}"
        ) from exc
