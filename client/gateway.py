"""A small async client of the gateway, and an open-loop sender at a fixed rate.

Used by ``vigil demo`` / ``vigil score`` / ``vigil status`` and by ``bench/bench_load.py``.
Payloads are sent as the client would send them (JSON objects in the wire format); the gateway
validates them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

SCORE_PATH = "/v1/transactions"
READY_PATH = "/ready"


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """One HTTP answer: status, decoded JSON body (or the text), and how long it took."""

    status: int
    body: Any
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the gateway answered 2xx."""
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Failure:
    """A request that got no HTTP answer (connection refused, timeout, ...)."""

    error: str
    seconds: float


class GatewayClient:
    """Talks to one gateway over a pooled HTTP/1.1 connection set."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def score(self, payload: Mapping[str, Any]) -> GatewayReply | Failure:
        """POST one transaction; never raises for HTTP or network errors."""
        return await self._call("POST", SCORE_PATH, msgspec.json.encode(payload))

    async def ready(self) -> GatewayReply | Failure:
        """GET the readiness report."""
        return await self._call("GET", READY_PATH, None)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: bytes | None) -> GatewayReply | Failure:
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, content=body)
        except httpx.HTTPError as exc:
            return Failure(error=f"{type(exc).__name__}: {exc}", seconds=_since(started))
        seconds = _since(started)
        try:
            decoded: Any = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            decoded = response.text
        return GatewayReply(status=response.status_code, body=decoded, seconds=seconds)


async def send_at_rate(
    send: Callable[[Mapping[str, Any]], Awaitable[GatewayReply | Failure]],
    payloads: Iterable[Mapping[str, Any]],
    *,
    rate: float,
    max_in_flight: int = 256,
) -> AsyncIterator[tuple[Mapping[str, Any], GatewayReply | Failure]]:
    """Send payloads open-loop at ``rate`` per second; yield each answer as it arrives.

    Request *i* is started at ``start + i / rate`` whether or not earlier ones have answered (at
    most ``max_in_flight`` at once), so a slow server shows up as latency, not as a lower rate.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(max_in_flight)
    answers: asyncio.Queue[tuple[Mapping[str, Any], GatewayReply | Failure] | None] = (
        asyncio.Queue()
    )

    async def one(payload: Mapping[str, Any]) -> None:
        try:
            answers.put_nowait((payload, await send(payload)))
        finally:
            slots.release()

    tasks: set[asyncio.Task[None]] = set()

    async def schedule() -> None:
        start = loop.time()
        for index, payload in enumerate(payloads):
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        answers.put_nowait(None)

    scheduler = asyncio.create_task(schedule())
    try:
        while (answer := await answers.get()) is not None:
            yield answer
    finally:
        for task in (scheduler, *tasks):
            task.cancel()
        await asyncio.gather(scheduler, *tasks, return_exceptions=True)


def _since(started: float) -> float:
    return time.perf_counter() - started
