"""The caching key verifier: answers are trusted for the TTL, then asked again; stale on outage."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from core.access import Scope
from core.clock import ManualClock
from core.errors import DependencyUnavailableError
from serving.key_verifier import CachingApiKeyVerifier
from storage.api_keys import ApiKey, generate_key

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)


class FakeStore:
    """Keys in a dict; ``down`` fails every lookup, ``frozen`` makes lookups hang until thawed."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.lookups = 0
        self.down = False
        self.thawed = asyncio.Event()
        self.thawed.set()

    def freeze(self) -> None:
        """Lookups from now on hang (like a stuck PostgreSQL) until :meth:`thaw`."""
        self.thawed.clear()

    def thaw(self) -> None:
        """Hanging lookups answer."""
        self.thawed.set()

    def issue(self, name: str, *scopes: Scope) -> str:
        """A new key with ``scopes``; its text."""
        prefix, text = generate_key()
        self.keys[text] = ApiKey(
            id=len(self.keys) + 1,
            prefix=prefix,
            name=name,
            scopes=frozenset(scopes),
            created_at=NOW,
            created_by="test",
            revoked_at=None,
            last_used_at=None,
        )
        return text

    async def find_active(self, api_key: str) -> ApiKey | None:
        """The key, unless revoked (removed)."""
        self.lookups += 1
        await self.thawed.wait()
        if self.down:
            raise OperationalError("SELECT", {}, ConnectionRefusedError("refused"))
        return self.keys.get(api_key)


@pytest.fixture
def clock() -> ManualClock:
    """The verifier's clock."""
    return ManualClock(NOW)


@pytest.fixture
def store() -> FakeStore:
    """An empty fake key store."""
    return FakeStore()


@pytest.fixture
def verifier(store: FakeStore, clock: ManualClock) -> CachingApiKeyVerifier:
    """A verifier with a 5 s TTL and answers kept at most a minute on outage."""
    return CachingApiKeyVerifier(store, clock=clock, ttl=TTL, max_stale=timedelta(minutes=1))


async def test_a_key_is_looked_up_once_per_ttl(
    verifier: CachingApiKeyVerifier, store: FakeStore, clock: ManualClock
) -> None:
    """Within the TTL a key's answer comes from the cache; after it the store is asked again."""
    key = store.issue("payments", Scope.SCORE)
    first = await verifier.verify(key)
    clock.advance(TTL - timedelta(milliseconds=1))
    assert await verifier.verify(key) == first
    assert store.lookups == 1
    clock.advance(timedelta(milliseconds=1))
    await verifier.verify(key)
    assert store.lookups == 2
    assert first is not None
    assert (first.key_id, first.subject, first.scopes) == (
        "1",
        "payments",
        frozenset({Scope.SCORE}),
    )


async def test_a_revoked_key_fails_once_the_ttl_has_passed(
    verifier: CachingApiKeyVerifier, store: FakeStore, clock: ManualClock
) -> None:
    """Revocation shows after at most the TTL (at once after invalidate)."""
    key = store.issue("dashboard", Scope.READ)
    assert await verifier.verify(key) is not None
    del store.keys[key]
    assert await verifier.verify(key) is not None
    clock.advance(TTL)
    assert await verifier.verify(key) is None
    other = store.issue("other", Scope.READ)
    assert await verifier.verify(other) is not None
    del store.keys[other]
    verifier.invalidate()
    assert await verifier.verify(other) is None


async def test_unknown_keys_are_remembered_too(
    verifier: CachingApiKeyVerifier, store: FakeStore
) -> None:
    """Repeating an unknown key does not reach the store again within the TTL."""
    assert await verifier.verify("vgl_nope") is None
    assert await verifier.verify("vgl_nope") is None
    assert store.lookups == 1


async def test_an_outage_uses_the_last_answer_then_is_503(
    verifier: CachingApiKeyVerifier, store: FakeStore, clock: ManualClock
) -> None:
    """With the store down a known answer is used up to max_stale; a new key is 503."""
    key = store.issue("payments", Scope.SCORE)
    assert await verifier.verify(key) is not None
    store.down = True
    clock.advance(timedelta(seconds=30))
    assert await verifier.verify(key) is not None
    with pytest.raises(DependencyUnavailableError):
        await verifier.verify(store.issue("new", Scope.READ))
    clock.advance(timedelta(seconds=31))
    with pytest.raises(DependencyUnavailableError):
        await verifier.verify(key)


async def test_the_cache_is_bounded(store: FakeStore, clock: ManualClock) -> None:
    """Past max_entries the oldest answers are dropped (and asked for again when needed)."""
    verifier = CachingApiKeyVerifier(store, clock=clock, ttl=TTL, max_entries=3)
    keys = [store.issue(f"k{i}", Scope.READ) for i in range(4)]
    for key in keys:
        await verifier.verify(key)
    assert store.lookups == 4
    await verifier.verify(keys[-1])
    assert store.lookups == 4
    await verifier.verify(keys[0])
    assert store.lookups == 5


async def test_a_frozen_store_does_not_delay_requests_past_the_ttl(
    verifier: CachingApiKeyVerifier, store: FakeStore, clock: ManualClock
) -> None:
    """With lookups hanging, a key past its TTL is served its last answer at once, not after 2 s."""
    key = store.issue("payments", Scope.SCORE)
    principal = await verifier.verify(key)
    store.freeze()
    clock.advance(TTL)
    started = time.perf_counter()
    assert await verifier.verify(key) == principal
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(50):
        clock.advance(timedelta(milliseconds=100))
        assert await verifier.verify(key) == principal
    rest_s = time.perf_counter() - started
    assert first_s < 0.5  # at most the short refresh wait, never the 2 s lookup timeout
    assert rest_s < 0.1  # once the store is known not to answer, nobody waits for it
    assert store.lookups == 2  # the first check, then one refresh in flight for the key
    store.thaw()


async def test_concurrent_requests_share_one_lookup(
    verifier: CachingApiKeyVerifier, store: FakeStore, clock: ManualClock
) -> None:
    """Requests for the same key past its TTL (or never seen) start one lookup between them."""
    key = store.issue("payments", Scope.SCORE)
    results = await asyncio.gather(*(verifier.verify(key) for _ in range(20)))
    assert store.lookups == 1
    assert len(set(results)) == 1
    clock.advance(TTL)
    await asyncio.gather(*(verifier.verify(key) for _ in range(20)))
    assert store.lookups == 2


async def test_a_refresh_finishing_in_the_background_replaces_the_stale_answer(
    verifier: CachingApiKeyVerifier, store: FakeStore, clock: ManualClock
) -> None:
    """A key revoked while the store hung fails once the refresh in flight finally answers."""
    key = store.issue("dashboard", Scope.READ)
    assert await verifier.verify(key) is not None
    del store.keys[key]
    store.freeze()
    clock.advance(TTL)
    assert await verifier.verify(key) is not None  # stale: the refresh has not answered
    store.thaw()
    for _ in range(100):  # the refresh in flight answers shortly after the store does
        if await verifier.verify(key) is None:
            break
        await asyncio.sleep(0.01)
    assert await verifier.verify(key) is None
    assert store.lookups == 2


async def test_max_stale_still_bounds_a_hanging_store(store: FakeStore, clock: ManualClock) -> None:
    """An answer older than max_stale is not used: the request waits for the lookup, then 503."""
    verifier = CachingApiKeyVerifier(
        store, clock=clock, ttl=TTL, max_stale=timedelta(minutes=1), lookup_timeout_s=0.2
    )
    key = store.issue("payments", Scope.SCORE)
    assert await verifier.verify(key) is not None
    store.freeze()
    clock.advance(timedelta(minutes=1))
    with pytest.raises(DependencyUnavailableError):
        await verifier.verify(key)
    store.thaw()


async def test_made_up_keys_do_not_evict_real_ones(store: FakeStore, clock: ManualClock) -> None:
    """Unknown answers are bounded apart: a flood of made-up keys leaves real keys cached."""
    verifier = CachingApiKeyVerifier(
        store, clock=clock, ttl=TTL, max_entries=3, max_unknown_entries=2
    )
    real = store.issue("payments", Scope.SCORE)
    await verifier.verify(real)
    for _ in range(10):
        assert await verifier.verify(generate_key()[1]) is None
    lookups = store.lookups
    await verifier.verify(real)
    assert store.lookups == lookups
