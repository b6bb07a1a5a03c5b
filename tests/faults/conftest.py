"""Fault injection against real services: helpers shared by ``tests/faults``.

Each scenario breaks something for real (stops a PostgreSQL server, kills a process) and then
counts rows in PostgreSQL. Services a test stops are its own (an embedded PostgreSQL in a
temporary directory), never the session's, so the rest of the suite is unaffected. Each test
prints one ``fault_report`` line: requests sent, decisions returned, decisions in PostgreSQL,
duplicates, failures and recovery time (docs/reliability.md quotes them).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.embedded import EmbeddedPostgres
from storage.migrations import upgrade


@dataclass
class OwnPostgres:
    """A PostgreSQL server this test may stop and start (its URL survives restarts)."""

    server: EmbeddedPostgres
    url: str

    async def stop(self) -> None:
        """Fast shutdown: open connections are cut."""
        await asyncio.to_thread(self.server.stop)

    async def start(self) -> None:
        """Start it again on the same data directory and socket."""
        url = await asyncio.to_thread(self.server.start)
        assert url == self.url


@pytest.fixture
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    """An embedded PostgreSQL of this test alone, migrated to head, stopped afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-fault-pg-"))
    server = EmbeddedPostgres(directory / "pg")
    url = await asyncio.to_thread(server.start)
    await upgrade(url)
    yield OwnPostgres(server=server, url=url)
    await asyncio.to_thread(server.stop)
    shutil.rmtree(directory, ignore_errors=True)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, *, within_s: float) -> float:
    """Wait until ``check`` holds; return how long that took. Fails the test after ``within_s``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within_s:
            pytest.fail(f"not within {within_s:g} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def stored_ids(engine: AsyncEngine, table: str = "decisions") -> list[str]:
    """Every ``transaction_id`` in ``table`` (duplicates kept, so they can be counted)."""
    query = text(f"SELECT transaction_id FROM {table}")  # noqa: S608 - literal table names
    async with engine.connect() as connection:
        return [row[0] for row in await connection.execute(query)]


def report(scenario: str, **numbers: object) -> None:
    """The scenario's measured numbers as one line (read off the test output for the docs)."""
    fields = " ".join(f"{name}={value}" for name, value in numbers.items())
    print(f"\nfault_report scenario={scenario} {fields}")  # noqa: T201
