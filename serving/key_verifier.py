"""The gateway's :class:`~serving.auth.ApiKeyVerifier` over the key store, with a short cache.

Each replica remembers every answer (a key's principal, or "unknown") for ``ttl`` (the
``api_key_cache_ttl_s`` setting, 5 s by default), keyed by the key's SHA-256 so plaintext keys
are not kept. So a request costs no database query while its key's answer is fresh, and a revoked
key stops working at most ``ttl`` after ``vigil keys revoke``. Remembering "unknown" is safe: a
new key is random, so nobody can have presented it before it was created.

When PostgreSQL cannot be reached (or answers slower than ``lookup_timeout_s``), an answer up to
``max_stale`` old is still used (``api_key_check_stale`` is logged), so a database outage does
not stop scoring, which otherwise only needs Redis; without such an answer the request is 503.
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
    """Resolves keys through ``store``, trusting each answer for ``ttl``."""

    def __init__(
        self,
        store: KeyLookup,
        *,
        clock: Clock,
        ttl: timedelta = DEFAULT_TTL,
        max_stale: timedelta = DEFAULT_MAX_STALE,
        lookup_timeout_s: float = 2.0,
        max_entries: int = 10_000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._max_stale = max_stale
        self._lookup_timeout_s = lookup_timeout_s
        self._max_entries = max_entries
        self._answers: dict[str, _Answer] = {}

    async def verify(self, api_key: str) -> Principal | None:
        """The key's principal, or ``None`` when it is unknown or revoked."""
        digest = key_digest(api_key)
        now = self._clock.now()
        known = self._answers.get(digest)
        if known is not None and now - known.checked_at < self._ttl:
            return known.principal
        try:
            async with asyncio.timeout(self._lookup_timeout_s):
                key = await self._store.find_active(api_key)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            if known is not None and now - known.checked_at < self._max_stale:
                _log.warning("api_key_check_stale", error=str(exc) or type(exc).__name__)
                return known.principal
            raise DependencyUnavailableError("the API key store is unavailable") from exc
        principal = None if key is None else principal_for(key)
        self._remember(digest, _Answer(principal, now))
        return principal

    def invalidate(self) -> None:
        """Forget every answer: the next request of each key asks the store."""
        self._answers.clear()

    def _remember(self, digest: str, answer: _Answer) -> None:
        self._answers.pop(digest, None)
        if len(self._answers) >= self._max_entries:
            cutoff = answer.checked_at - self._max_stale
            self._answers = {d: a for d, a in self._answers.items() if a.checked_at > cutoff}
            while len(self._answers) >= self._max_entries:  # oldest first (insertion order)
                del self._answers[next(iter(self._answers))]
        self._answers[digest] = answer


def principal_for(key: ApiKey) -> Principal:
    """The principal a stored key authenticates as (its id, name and scopes)."""
    return Principal(key_id=str(key.id), subject=key.name, scopes=key.scopes)
