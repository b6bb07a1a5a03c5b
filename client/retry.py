"""Retrying gateway calls that may succeed later: capped exponential backoff with full jitter.

A call is retried when it got no HTTP answer (connection refused or reset, a timeout) or a 502,
503 or 504 (a proxy or a dependency is away, the engine is overloaded). Every other answer is
final, 4xx included: sending the same bad request again cannot help. Scoring is safe to repeat:
a transaction id sent again with the same payload is idempotent. Before retry ``n`` (from 0) the
caller waits a random time in ``[0, min(cap_s, base_s * 2**n)]`` ("full jitter"), so clients that
failed together do not come back together. Time and randomness are parameters (``sleep``,
``rng``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from client.gateway import Failure, GatewayReply

TRANSIENT_STATUSES: Final = frozenset({502, 503, 504})
"""Answers that say "not now", so retrying may help."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """At most ``retries`` more attempts, waiting up to ``base_s * 2**n`` (at most ``cap_s``)."""

    retries: int = 5
    base_s: float = 0.25
    cap_s: float = 8.0

    def delay_s(self, retry: int, rng: random.Random) -> float:
        """How long to wait before retry number ``retry`` (0 is the first retry)."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0**retry))


def is_transient(reply: GatewayReply | Failure) -> bool:
    """Whether retrying could help: no HTTP answer at all, or a 502, 503 or 504."""
    return isinstance(reply, Failure) or reply.status in TRANSIENT_STATUSES


async def with_retries(
    send: Callable[[], Awaitable[GatewayReply | Failure]],
    backoff: Backoff,
    *,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[GatewayReply | Failure, int]:
    """The final answer of ``send`` and how many attempts it took."""
    attempts = 0
    while True:
        reply = await send()
        attempts += 1
        if not is_transient(reply) or attempts > backoff.retries:
            return reply, attempts
        await sleep(backoff.delay_s(attempts - 1, rng))
