"""Alembic migrations against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from core.errors import DependencyUnavailableError
from storage.database import create_engine
from storage.migrations import current_revision, head_revision, upgrade
from storage.models import Base

EmptyDatabase = Callable[[], Awaitable[str]]


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        names = set(rows.scalars())
    await engine.dispose()
    return names


async def test_upgrade_creates_every_table_from_empty(empty_database: EmptyDatabase) -> None:
    """An empty database gets every table of the models and is at the newest revision."""
    url = await empty_database()
    assert await current_revision(url) is None
    await upgrade(url)
    assert await current_revision(url) == head_revision()
    assert set(Base.metadata.tables) | {"alembic_version"} == await _tables(url)


async def test_upgrade_twice_is_a_no_op(empty_database: EmptyDatabase) -> None:
    """Running the upgrade again changes nothing and does not fail."""
    url = await empty_database()
    await upgrade(url)
    before = await _tables(url)
    await upgrade(url)
    assert await _tables(url) == before
    assert await current_revision(url) == head_revision()


async def test_concurrent_upgrades_serialise(empty_database: EmptyDatabase) -> None:
    """Two processes upgrading at once (e.g. two `vigil up`) both succeed."""
    url = await empty_database()
    await asyncio.gather(upgrade(url), upgrade(url))
    assert await current_revision(url) == head_revision()


async def test_unreachable_database_is_a_dependency_error() -> None:
    """A closed port gives a DependencyUnavailableError naming the server, without password."""
    url = "postgresql+asyncpg://vigil:s3cret@127.0.0.1:1/vigil"
    with pytest.raises(DependencyUnavailableError, match=r"127\.0\.0\.1:1") as caught:
        await upgrade(url)
    assert "s3cret" not in str(caught.value)


async def test_migrations_match_the_models(database_url: str) -> None:
    """The migrated schema equals the models: a model change needs a new revision."""
    engine = create_engine(database_url, poolclass=NullPool)
    async with engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)
    await engine.dispose()
    assert differences == []


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))
