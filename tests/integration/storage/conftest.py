"""Fixtures for storage tests: a switchable TCP proxy in front of PostgreSQL (outages)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url


class OutageProxy:
    """Forwards TCP connections to PostgreSQL; :meth:`cut` simulates an outage, :meth:`restore`."""

    def __init__(self, database_url: str) -> None:
        self._target = make_url(database_url)
        self._server: asyncio.Server | None = None
        self._up = True
        self._pipes: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self) -> None:
        """Listen on a free local port; :attr:`url` then points at the proxy."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = self._target.set(host="127.0.0.1", port=port, query={}).render_as_string(
            hide_password=False
        )

    def cut(self) -> None:
        """Drop every open connection and refuse new ones (they are closed on accept)."""
        self._up = False
        for pipe in self._pipes:
            pipe.cancel()

    def restore(self) -> None:
        """Forward new connections again."""
        self._up = True

    async def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = self._target.query.get("host")
        port = self._target.port or int(str(self._target.query.get("port", 5432)))
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(self._target.host or "127.0.0.1", port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.close()
            return
        target_reader, target_writer = await self._open_target()
        pipes = [
            asyncio.ensure_future(_pump(reader, target_writer)),
            asyncio.ensure_future(_pump(target_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            for w in (writer, target_writer):
                w.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@pytest.fixture
async def outage_proxy(database_url: str) -> AsyncIterator[OutageProxy]:
    """A proxy to the session database that a test can cut and restore."""
    proxy = OutageProxy(database_url)
    await proxy.start()
    yield proxy
    await proxy.close()
