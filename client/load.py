"""An open-loop sender: requests at a fixed rate, whatever the server's pace.

Used by ``vigil demo``, the fault tests and ``bench/bench_load.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from client.gateway import Failure, GatewayReply


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
