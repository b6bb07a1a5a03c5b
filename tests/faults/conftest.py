"""Fault injection against real services: helpers shared by ``tests/faults``.

Each scenario breaks something for real (stops a PostgreSQL server, kills a process) and then
counts rows in PostgreSQL. Services a test stops are its own (an embedded PostgreSQL in a
temporary directory), never the session's, so the rest of the suite is unaffected. Each test
prints one ``fault_report`` line: requests sent, decisions returned, decisions in PostgreSQL,
duplicates, failures and recovery time (docs/reliability.md quotes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
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


@contextlib.asynccontextmanager
async def leased_redis_database(server_url: str) -> AsyncIterator[str]:
    """Another logical database of the test Redis (1-15), leased like the session's own."""
    from redis.asyncio import Redis  # noqa: PLC0415

    from tests.conftest import _with_db  # noqa: PLC0415 - the session's own URL helper

    base = Redis.from_url(server_url, db=0)
    owner = f"{socket.gethostname()}:{os.getpid()}:fault"
    try:
        for number in range(15, 0, -1):
            key = f"vigil:test-lease:{number}"
            if await base.set(key, owner, nx=True, ex=3600):
                break
        else:
            pytest.fail("all Redis databases 1-15 are leased")
        url = _with_db(server_url, number)
        flushed = Redis.from_url(url)
        await flushed.flushdb()
        await flushed.aclose()
        yield url
        await base.delete(key)
    finally:
        await base.aclose()


def kill_replicas(deployment: str) -> list[str]:
    """Kill (no restart) the Ray actors of all ``deployment`` replicas; return their names."""
    return kill_some_replicas(deployment, limit=None)


def kill_some_replicas(deployment: str, *, limit: int | None) -> list[str]:
    """Kill up to ``limit`` (all when ``None``) replicas of ``deployment``; return their names."""
    import ray  # noqa: PLC0415 - the session's Ray, started by the gateway_url fixture

    prefix = f"SERVE_REPLICA::vigil#{deployment}#"
    names = sorted(
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["name"].startswith(prefix)
    )[:limit]
    for name in names:
        ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
    return names


def longest_gap(times: list[float]) -> float:
    """The longest time between two consecutive answers."""
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)
