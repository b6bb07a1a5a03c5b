"""The ApiKeyVerifier contract, shared by every implementation (DESIGN §8.3).

The static verifier (tests, fixed deployments) and the gateway's caching verifier over the
``api_keys`` table in a real PostgreSQL must answer alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.access import Scope
from core.clock import ManualClock
from serving.auth import ApiKeyVerifier, Principal, StaticApiKeyVerifier
from serving.key_verifier import CachingApiKeyVerifier
from storage.api_keys import ApiKeyStore, generate_key

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Wanted = Mapping[str, frozenset[Scope]]
"""Keys to issue: name -> scopes."""
Issue = Callable[[Wanted], Awaitable[tuple[ApiKeyVerifier, dict[str, str]]]]
"""Issues the keys; returns a verifier that knows them and each key's text by name."""


async def _static(wanted: Wanted) -> tuple[ApiKeyVerifier, dict[str, str]]:
    texts = {name: generate_key()[1] for name in wanted}
    principals = {
        texts[name]: Principal(key_id=f"id-{name}", subject=name, scopes=scopes)
        for name, scopes in wanted.items()
    }
    return StaticApiKeyVerifier(principals), texts


@pytest.fixture(params=["static", "database"])
def issue(request: pytest.FixtureRequest) -> Issue:
    """Key issuing for each implementation (the database one on the emptied test database)."""
    if request.param == "static":
        return _static
    engine: AsyncEngine = request.getfixturevalue("db_engine")
    clock = ManualClock(NOW)

    async def database(wanted: Wanted) -> tuple[ApiKeyVerifier, dict[str, str]]:
        store = ApiKeyStore(engine, clock=clock)
        texts = {
            name: (await store.create(name, scopes, created_by="test")).secret
            for name, scopes in wanted.items()
        }
        return CachingApiKeyVerifier(store, clock=clock), texts

    return database


async def test_an_issued_key_is_its_principal(issue: Issue) -> None:
    """Each key resolves to a principal with its name as subject and exactly its scopes."""
    verifier, texts = await issue(
        {"payments": frozenset({Scope.SCORE}), "ops": frozenset({Scope.READ, Scope.ADMIN})}
    )
    payments = await verifier.verify(texts["payments"])
    ops = await verifier.verify(texts["ops"])
    assert payments is not None
    assert ops is not None
    assert (payments.subject, payments.scopes) == ("payments", frozenset({Scope.SCORE}))
    assert (ops.subject, ops.scopes) == ("ops", frozenset({Scope.READ, Scope.ADMIN}))
    assert payments.key_id != ops.key_id


async def test_the_same_key_is_the_same_principal(issue: Issue) -> None:
    """Asking twice gives equal principals (the key id is stable, e.g. for rate limits)."""
    verifier, texts = await issue({"dashboard": frozenset({Scope.READ})})
    assert await verifier.verify(texts["dashboard"]) == await verifier.verify(texts["dashboard"])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key + "x",
        lambda key: key[:-1],
        lambda key: key.upper(),
        lambda key: f" {key}",
        lambda key: generate_key()[1],
        lambda _key: "",
        lambda _key: "not a key at all",
    ],
)
async def test_anything_else_is_unknown(issue: Issue, mangle: Callable[[str], str]) -> None:
    """Altered, foreign, empty and malformed keys resolve to nobody."""
    verifier, texts = await issue({"dashboard": frozenset({Scope.READ})})
    assert await verifier.verify(mangle(texts["dashboard"])) is None
