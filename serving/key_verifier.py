"""The gateway's :class:`~serving.auth.ApiKeyVerifier` over the key store, with a short cache.

Each replica remembers every answer (a key's principal, or "unknown") for ``ttl`` (the
``api_key_cache_ttl_s`` setting, 5 s by default), keyed by the key's SHA-256 so plaintext keys
are not kept. So a request costs no database query while its key's answer is fresh, and a revoked
key stops working at most ``ttl`` after ``vigil keys revoke``. Remembering "unknown" is safe: a
new key is random, so nobody can have presented it before it was created. "Unknown" answers are
kept apart and bounded on their own (``max_unknown_entries``), so a flood of made-up keys cannot
push the answers of real keys out of the cache.

Past ``ttl`` an answer is refreshed by one lookup per key (requests for the same key share it;
``lookup_timeout_s`` bounds it). While PostgreSQL answers, the request waits for that lookup, but
at most ``refresh_wait_s`` (0.1 s): a healthy database answers in milliseconds, so revocation
still shows within ``ttl``. When the lookup does not answer in that time, or the last lookup
failed, the request is served the previous answer *at once* and the lookup finishes in the
background; until a lookup succeeds again no request waits for one. So a frozen or unreachable
database costs at most one request ``refresh_wait_s`` instead of adding ``lookup_timeout_s`` to
every request past the TTL, and scoring, which otherwise needs only Redis, goes on.

The trade-off, written down: while the database does not answer, a key revoked just before (or
during) the outage keeps working on replicas that remember it, for as long as the outage lasts,
up to ``max_stale`` (an hour); and after the database comes back, the first request of such a key
may still be let through while the refresh it started completes. An answer older than
``max_stale`` is never used: the request then waits for the lookup and is 503 if it fails, as is
a key this replica has never seen (``api_key_check_stale`` is logged when an old answer is used
because the store did not answer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from core.clock import Clock
from core.errors import DependencyUnavailableError
from serving.auth import Principal
from storage.api_keys import ApiKey, key_digest

DEFAULT_TTL: Final = timedelta(seconds=5)
DEFAULT_MAX_STALE: Final = timedelta(hours=1)
DEFAULT_REFRESH_WAIT_S: Final = 0.1
_log = structlog.get_logger("vigil.serving")


class KeyLookup(Protocol):
    """Finds the active key a client sent (:class:`storage.api_keys.ApiKeyStore`)."""

    async def find_active(self, api_key: str) -> ApiKey | None:
        """The unrevoked key whose text this is, else ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class _Answer:
    principal: Principal | None
    checked_at: datetime


class CachingApiKeyVerifier:
    """Resolves keys through ``store``, trusting each answer for ``ttl``; see the module doc."""

    def __init__(
        self,
        store: KeyLookup,
        *,
        clock: Clock,
        ttl: timedelta = DEFAULT_TTL,
        max_stale: timedelta = DEFAULT_MAX_STALE,
        lookup_timeout_s: float = 2.0,
        refresh_wait_s: float = DEFAULT_REFRESH_WAIT_S,
        max_entries: int = 10_000,
        max_unknown_entries: int = 1_000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._max_stale = max_stale
        self._lookup_timeout_s = lookup_timeout_s
        self._refresh_wait_s = refresh_wait_s
        self._max_entries = max_entries
        self._max_unknown_entries = max_unknown_entries
        self._known: dict[str, _Answer] = {}
        """Answers naming a principal, by digest, oldest first."""
        self._unknown: dict[str, _Answer] = {}
        """Answers that the key is unknown (or revoked), by digest, oldest first."""
        self._lookups: dict[str, asyncio.Task[Principal | None]] = {}
        self._store_answering = True
        self._generation = 0

    async def verify(self, api_key: str) -> Principal | None:
        """The key's principal, or ``None`` when it is unknown or revoked."""
        digest = key_digest(api_key)
        now = self._clock.now()
        known = self._cached(digest)
        if known is not None and now - known.checked_at < self._ttl:
            return known.principal
        lookup = self._lookup(api_key, digest)
        if known is None or now - known.checked_at >= self._max_stale:
            return await asyncio.shield(lookup)  # nothing usable: wait for the store (or 503)
        if self._store_answering:
            try:
                async with asyncio.timeout(self._refresh_wait_s):
                    return await asyncio.shield(lookup)
            except TimeoutError:
                self._store_answering = False
                _log.warning(
                    "api_key_check_stale",
                    error=f"the key store did not answer within {self._refresh_wait_s} s",
                )
            except DependencyUnavailableError:
                pass  # logged by the lookup
        return known.principal

    def invalidate(self) -> None:
        """Forget every answer: the next request of each key asks the store."""
        self._known.clear()
        self._unknown.clear()
        self._lookups.clear()
        self._generation += 1

    def _cached(self, digest: str) -> _Answer | None:
        return self._known.get(digest) or self._unknown.get(digest)

    def _lookup(self, api_key: str, digest: str) -> asyncio.Task[Principal | None]:
        """The lookup of ``digest`` in flight, or a new one (one per key at a time)."""
        running = self._lookups.get(digest)
        if running is not None:
            return running
        task = asyncio.create_task(self._ask_store(api_key, digest), name="api-key-lookup")
        self._lookups[digest] = task

        def settled(done: asyncio.Task[Principal | None]) -> None:
            if self._lookups.get(digest) is done:
                del self._lookups[digest]
            if not done.cancelled():
                done.exception()  # retrieved: waiters (if any) see it, background ones are logged

        task.add_done_callback(settled)
        return task

    async def _ask_store(self, api_key: str, digest: str) -> Principal | None:
        generation = self._generation
        started = self._clock.now()
        try:
            async with asyncio.timeout(self._lookup_timeout_s):
                key = await self._store.find_active(api_key)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            self._store_answering = False
            known = self._cached(digest)
            if known is not None and started - known.checked_at < self._max_stale:
                _log.warning("api_key_check_stale", error=str(exc) or type(exc).__name__)
            raise DependencyUnavailableError("the API key store is unavailable") from exc
        self._store_answering = True
        principal = None if key is None else principal_for(key)
        if generation == self._generation:
            self._remember(digest, _Answer(principal, started))
        return principal

    def _remember(self, digest: str, answer: _Answer) -> None:
        self._known.pop(digest, None)
        self._unknown.pop(digest, None)
        if answer.principal is None:
            answers, limit = self._unknown, self._max_unknown_entries
        else:
            answers, limit = self._known, self._max_entries
        while len(answers) >= limit:  # oldest first (insertion order)
            del answers[next(iter(answers))]
        answers[digest] = answer


def principal_for(key: ApiKey) -> Principal:
    """The principal a stored key authenticates as (its id, name and scopes)."""
    return Principal(key_id=str(key.id), subject=key.name, scopes=key.scopes)
