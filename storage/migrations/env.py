"""Alembic environment for Vigil: async (asyncpg), run programmatically or from the alembic CLI.

:func:`storage.migrations.upgrade` passes an open connection in ``config.attributes["connection"]``
(so migrations share its transaction and advisory lock). The ``alembic`` command line instead
connects to ``sqlalchemy.url`` from its ini file or ``VIGIL_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from storage.database import create_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def _standalone_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("VIGIL_DATABASE_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url in the ini file or VIGIL_DATABASE_URL")
    return url


if context.is_offline_mode():
    context.configure(url=_standalone_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run_on(shared)
else:
    asyncio.run(_run_standalone(_standalone_url()))
