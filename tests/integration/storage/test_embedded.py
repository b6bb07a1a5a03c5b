"""The embedded PostgreSQL and Redis: the fallback path when no servers are configured.

These run everywhere (CI included), whether or not VIGIL_TEST_* URLs are set.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from storage.database import create_engine
from storage.embedded import EmbeddedPostgres, EmbeddedRedis, start_embedded, stop_embedded


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """A data directory whose servers are stopped (and files removed) after the module."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-test-embedded-"))
    yield directory
    stop_embedded(directory)
    shutil.rmtree(directory, ignore_errors=True)


async def test_embedded_servers_start_and_serve(data_dir: Path) -> None:
    """PostgreSQL answers SQL in the `vigil` database and Redis 6.2 answers commands."""
    urls = await asyncio.to_thread(start_embedded, data_dir)
    engine = create_engine(urls.database_url)
    async with engine.connect() as connection:
        database = (await connection.execute(text("SELECT current_database()"))).scalar_one()
    await engine.dispose()
    client = Redis.from_url(urls.redis_url)
    await client.set("k", "v")
    info = await client.info("server")
    value = await client.get("k")
    await client.aclose()
    assert database == "vigil"
    assert value == b"v"
    assert str(info["redis_version"]).startswith("6.2")


async def test_starting_again_reuses_the_running_servers(data_dir: Path) -> None:
    """A second start returns the same URLs and keeps the data (same server processes)."""
    first = await asyncio.to_thread(start_embedded, data_dir)
    client = Redis.from_url(first.redis_url)
    await client.set("marker", "1")
    await client.aclose()
    second = await asyncio.to_thread(start_embedded, data_dir)
    client = Redis.from_url(second.redis_url)
    marker = await client.get("marker")
    await client.aclose()
    assert second == first
    assert marker == b"1"


async def test_stop_stops_and_restart_keeps_redis_data(data_dir: Path) -> None:
    """After stop nothing answers; a restart brings back what was written (AOF)."""
    urls = await asyncio.to_thread(start_embedded, data_dir)
    client = Redis.from_url(urls.redis_url)
    await client.xadd("vigil:decisions", {"v": "1"})
    await client.aclose()
    await asyncio.to_thread(stop_embedded, data_dir)
    assert EmbeddedPostgres(data_dir / "pg").url() is None
    assert EmbeddedRedis(data_dir / "redis").url() is None
    again = await asyncio.to_thread(start_embedded, data_dir)
    client = Redis.from_url(again.redis_url)
    length = await client.xlen("vigil:decisions")
    await client.aclose()
    assert length == 1
