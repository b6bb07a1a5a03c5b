"""The API key store against a real PostgreSQL: issued once, stored hashed, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.access import Scope
from core.clock import ManualClock
from core.errors import InvalidInputError, NotFoundError
from storage.api_keys import ApiKeyStore, key_digest

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """The store's clock."""
    return ManualClock(NOW)


@pytest.fixture
def store(db_engine: AsyncEngine, clock: ManualClock) -> ApiKeyStore:
    """A key store on the emptied test database."""
    return ApiKeyStore(db_engine, clock=clock)


async def test_only_the_digest_is_stored(store: ApiKeyStore, db_engine: AsyncEngine) -> None:
    """The key's text appears nowhere in the table; its SHA-256 and prefix do."""
    issued = await store.create("payments-api", {Scope.SCORE, Scope.READ}, created_by="cli:ops")
    async with db_engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM api_keys"))).mappings().one()
    assert issued.secret not in {str(v) for v in row.values()}
    assert row["key_hash"] == key_digest(issued.secret)
    assert row["prefix"] == issued.key.prefix
    assert sorted(row["scopes"]) == ["read", "score"]
    assert issued.key.scopes == {Scope.SCORE, Scope.READ}
    assert (issued.key.created_at, issued.key.created_by) == (NOW, "cli:ops")


async def test_an_active_key_is_found_and_its_use_noted(
    store: ApiKeyStore, clock: ManualClock
) -> None:
    """find_active returns the key and notes last use at most once per minute."""
    issued = await store.create("dashboard", {Scope.READ}, created_by="test")
    clock.advance(timedelta(seconds=10))
    found = await store.find_active(issued.secret)
    assert found is not None
    assert found.id == issued.key.id
    clock.advance(timedelta(seconds=30))
    await store.find_active(issued.secret)
    [listed] = await store.list_keys()
    assert listed.last_used_at == NOW + timedelta(seconds=10)
    clock.advance(timedelta(seconds=30))
    await store.find_active(issued.secret)
    [listed] = await store.list_keys()
    assert listed.last_used_at == NOW + timedelta(seconds=70)


async def test_unknown_and_altered_keys_are_not_found(store: ApiKeyStore) -> None:
    """Another key with the same prefix, or any other text, finds nothing."""
    issued = await store.create("dashboard", {Scope.READ}, created_by="test")
    altered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    assert await store.find_active(altered) is None
    assert await store.find_active("not-a-key") is None


@pytest.mark.parametrize("how", ["id", "prefix", "display"])
async def test_a_revoked_key_is_not_found(store: ApiKeyStore, clock: ManualClock, how: str) -> None:
    """Revoking by id, prefix or vgl_<prefix> works; revoking again changes nothing."""
    issued = await store.create("old-client", {Scope.SCORE}, created_by="test")
    key = issued.key
    handle = {"id": str(key.id), "prefix": key.prefix, "display": f"vgl_{key.prefix}"}[how]
    clock.advance(timedelta(minutes=1))
    revoked = await store.revoke(handle)
    assert revoked.revoked_at == NOW + timedelta(minutes=1)
    assert await store.find_active(issued.secret) is None
    clock.advance(timedelta(minutes=1))
    assert (await store.revoke(handle)).revoked_at == NOW + timedelta(minutes=1)
    assert await store.list_keys(include_revoked=False) == []


async def test_revoking_an_unknown_key_is_not_found(store: ApiKeyStore) -> None:
    """The error names what was asked for."""
    with pytest.raises(NotFoundError, match="zzzzzzzz"):
        await store.revoke("zzzzzzzz")
    with pytest.raises(NotFoundError):
        await store.revoke("12345")


async def test_revoke_named_revokes_only_that_name(store: ApiKeyStore) -> None:
    """Keys of one name are revoked together; others stay active."""
    ui = [await store.create("web-app", {Scope.ADMIN}, created_by="vigil up") for _ in range(2)]
    other = await store.create("payments", {Scope.SCORE}, created_by="test")
    assert await store.revoke_named("web-app") == 2
    assert [await store.find_active(k.secret) for k in ui] == [None, None]
    assert await store.find_active(other.secret) is not None


async def test_invalid_keys_are_refused(store: ApiKeyStore) -> None:
    """No scopes or a bad name never reach the database."""
    with pytest.raises(InvalidInputError) as caught:
        await store.create("", set(), created_by="test")
    assert [p.location for p in caught.value.problems] == ["name", "scopes"]
    assert await store.list_keys() == []


async def test_the_table_accepts_only_known_scopes(db_engine: AsyncEngine) -> None:
    """The database itself refuses an unknown scope or none."""
    insert = text(
        "INSERT INTO api_keys (prefix, key_hash, name, scopes, created_at, created_by) "
        "VALUES ('abcdefgh', :hash, 'x', :scopes, now(), 'test')"
    )
    for scopes in (["root"], []):
        with pytest.raises(IntegrityError):
            async with db_engine.begin() as connection:
                await connection.execute(insert, {"hash": "0" * 64, "scopes": scopes})
