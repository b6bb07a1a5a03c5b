"""Rate limits in the Redis all replicas share: requests per API key, failed sign-ins per address.

Both are fixed-window counters. The limit is ``requests`` per ``window_s`` seconds; windows are
aligned to the epoch (window ``n`` covers ``[n * window_s, (n + 1) * window_s)``), so every
replica counts into the same Redis key without coordinating: ``vigil:rate:<key id>:<n>`` for a
key's requests, ``vigil:auth-failures:<address>:<n>`` for an address's failed authentications. A
fixed window may let through up to twice the limit across a window boundary; that is the price of
one counter.

Each check costs one round trip: a small Lua script adds the request's cost (``INCRBY``), renews
the expiry (harmless: the window number is part of the key) and takes the cost back if it does not
fit, so a request is admitted whole or not at all and a refused one uses none of the budget. A
batch costs one per transaction (:meth:`RedisRateLimiter.hit` with ``requests``): the guard counts
it as one before its body is read, its handler the rest once the body is checked.

:class:`FailedAuthLimiter` counts requests refused with 401 per client address, so guessing keys
costs the attacker, not PostgreSQL: once an address is over its limit, this replica remembers it
until the window ends and refuses its requests with 429 before looking a key up (no database
query, no Redis round trip). Other replicas learn it at the address's next failure there.

When Redis does not answer, the limiters let the request through and log
``rate_limit_unavailable``: a limiter outage must not take scoring down with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.clock import Clock
from core.errors import ConfigError, Problem, RateLimitedError

KEY_PREFIX: Final = "vigil:rate:"
AUTH_FAILURES_PREFIX: Final = "vigil:auth-failures:"
_log = structlog.get_logger("vigil.serving")

# KEYS[1]: the counter; ARGV: cost, expiry (s), limit, refund (the cost and what the same request
# added before). Returns {admitted (0/1), count before}.
_ADD_IF_FITS: Final = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local before = count - tonumber(ARGV[1])
if count > tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], math.max(0, count - tonumber(ARGV[4])), 'EX', ARGV[2])
  return {0, before}
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, before}
"""


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


class _WindowCounter:
    """Adds costs to ``<prefix><subject>:<window>`` in Redis, admitting only what fits."""

    def __init__(self, redis: Redis, limit: RateLimit, prefix: str) -> None:
        self._limit = limit
        self._prefix = prefix
        self._add = redis.register_script(_ADD_IF_FITS)

    async def add(
        self, subject: str, cost: int, window: int, *, added: int = 0
    ) -> tuple[bool, int] | None:
        """Whether ``cost`` fitted, and the count before it; ``None`` when Redis did not answer.

        When it does not fit, ``cost`` and ``added`` (what the same request added before) are
        taken back.
        """
        try:
            admitted, before = await self._add(
                keys=[f"{self._prefix}{subject}:{window}"],
                args=[cost, self._limit.window_s + 1, self._limit.requests, cost + added],
            )
        except (RedisError, OSError) as exc:
            _log.warning("rate_limit_unavailable", error=str(exc))
            return None
        return bool(admitted), int(before)


class RedisRateLimiter:
    """A :class:`serving.auth.RateLimiter` counting each key's requests in Redis."""

    def __init__(self, redis: Redis, limit: RateLimit, *, clock: Clock) -> None:
        self._limit = limit
        self._clock = clock
        self._counter = _WindowCounter(redis, limit, KEY_PREFIX)

    async def hit(self, key_id: str, requests: int = 1, *, counted: int = 0) -> None:
        """Count a request worth ``requests`` (a batch: its transactions) of ``key_id``.

        ``counted`` of them were counted by an earlier hit for the same request (the guard counts
        every request as one before its body is read). All of them fit, or none is counted (the
        ``counted`` ones are taken back too) and :class:`RateLimitedError` says what the limit is
        and how much of it is left.
        """
        cost = requests - counted
        if cost <= 0:
            return
        number, retry_after_s = self._limit.window(self._clock.now().timestamp())
        outcome = await self._counter.add(key_id, cost, number, added=counted)
        if outcome is None or outcome[0]:
            return
        limit = f"{self._limit.requests} requests per {self._limit.window_s} s"
        if requests == 1:
            message = f"this API key sent more than {limit}; retry after {retry_after_s} s"
        elif requests > self._limit.requests:
            message = (
                f"a batch of {requests} transactions counts as {requests} requests, more than this "
                f"API key's limit of {limit}; send at most {self._limit.requests} at once"
            )
        else:
            left = max(0, self._limit.requests - outcome[1] + counted)
            message = (
                f"a batch of {requests} transactions counts as {requests} requests; this API key "
                f"may send {limit} and has {left} left in this window; "
                f"retry after {retry_after_s} s"
            )
        raise RateLimitedError(message, retry_after_s=retry_after_s)


class FailedAuthLimiter:
    """Limits requests refused with 401 per client address; see the module doc."""

    def __init__(
        self, redis: Redis, limit: RateLimit, *, clock: Clock, max_blocked: int = 10_000
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._counter = _WindowCounter(redis, limit, AUTH_FAILURES_PREFIX)
        self._max_blocked = max_blocked
        self._blocked: dict[str, datetime] = {}
        """Addresses over the limit on this replica, until when (oldest first)."""

    def check(self, client: str) -> None:
        """:class:`RateLimitedError` while ``client`` is over its limit (no I/O)."""
        until = self._blocked.get(client)
        if until is None:
            return
        remaining_s = (until - self._clock.now()).total_seconds()
        if remaining_s <= 0:
            del self._blocked[client]
            return
        raise self._refusal(math.ceil(remaining_s))

    async def failed(self, client: str) -> None:
        """Count a failed authentication of ``client``; :class:`RateLimitedError` once over."""
        now = self._clock.now()
        number, retry_after_s = self._limit.window(now.timestamp())
        outcome = await self._counter.add(client, 1, number)
        if outcome is None or outcome[0]:
            return
        self._blocked.pop(client, None)
        while len(self._blocked) >= self._max_blocked:
            del self._blocked[next(iter(self._blocked))]
        self._blocked[client] = datetime.fromtimestamp(
            (number + 1) * self._limit.window_s, tz=now.tzinfo
        )
        _log.warning("auth_failures_limited", client=client, retry_after_s=retry_after_s)
        raise self._refusal(retry_after_s)

    def _refusal(self, retry_after_s: int) -> RateLimitedError:
        return RateLimitedError(
            f"too many requests with a missing, unknown or revoked API key from this address "
            f"(at most {self._limit.requests} per {self._limit.window_s} s); "
            f"retry after {retry_after_s} s",
            retry_after_s=retry_after_s,
        )
