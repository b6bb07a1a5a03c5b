"""Per-API-key rate limits: a fixed-window counter per key in the Redis all replicas share.

The limit is ``requests`` per ``window_s`` seconds. Windows are aligned to the epoch (window ``n``
covers ``[n * window_s, (n + 1) * window_s)``), so every replica counts into the same Redis key
``vigil:rate:<key id>:<n>`` without coordinating. Each request costs one round trip: ``INCR`` and
``EXPIRE`` in one ``MULTI``/``EXEC`` pipeline (Redis 6.2 has no ``EXPIRE ... NX``; re-setting the
expiry on every hit is harmless because the window number is part of the key). A fixed window may
let through up to twice the limit across a window boundary; that is the price of one counter.

When Redis does not answer, the limiter lets the request through and logs
``rate_limit_unavailable``: a limiter outage must not take scoring down with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.clock import Clock
from core.errors import ConfigError, Problem, RateLimitedError

KEY_PREFIX: Final = "vigil:rate:"
_log = structlog.get_logger("vigil.serving")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` per key in each window of ``window_s`` seconds."""

    requests: int
    window_s: int = 1

    def __post_init__(self) -> None:
        """Reject a limit that would refuse everything or never reset."""
        problems = []
        if self.requests < 1:
            problems.append(Problem("rate_limit_requests", "must be at least 1 (0 disables)"))
        if self.window_s < 1:
            problems.append(Problem("rate_limit_window_s", "must be at least 1"))
        if problems:
            raise ConfigError("invalid rate limit", problems)

    def window(self, epoch_s: float) -> tuple[int, int]:
        """The window containing ``epoch_s`` and whole seconds until the next one starts (>= 1)."""
        number = math.floor(epoch_s / self.window_s)
        remaining = (number + 1) * self.window_s - epoch_s
        return number, max(1, math.ceil(remaining))


class RedisRateLimiter:
    """A :class:`serving.auth.RateLimiter` counting in Redis, on the gateway's clock."""

    def __init__(self, redis: Redis, limit: RateLimit, *, clock: Clock) -> None:
        self._redis = redis
        self._limit = limit
        self._clock = clock

    async def hit(self, key_id: str) -> None:
        """Count one request of ``key_id``; :class:`RateLimitedError` once it is over the limit."""
        number, retry_after_s = self._limit.window(self._clock.now().timestamp())
        counter = f"{KEY_PREFIX}{key_id}:{number}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                # A pipeline queues the command and returns itself; redis-py types it as the
                # client's awaitable.
                pipe.incr(counter)  # type: ignore[unused-awaitable]
                pipe.expire(counter, self._limit.window_s + 1)  # type: ignore[unused-awaitable]
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            _log.warning("rate_limit_unavailable", error=str(exc))
            return
        if int(count) > self._limit.requests:
            raise RateLimitedError(
                f"this API key sent more than {self._limit.requests} requests in "
                f"{self._limit.window_s} s; retry after {retry_after_s} s",
                retry_after_s=retry_after_s,
            )
