"""`vigil up` issues the web app an admin key on start and revokes it on exit (no Ray needed)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from core.access import Scope
from runtime.launcher import UI_KEY_NAME, issue_ui_key, revoke_ui_keys
from storage.api_keys import ApiKeyStore


async def test_each_start_issues_a_fresh_admin_key(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """A start revokes leftovers of a crashed run and issues one admin key, never logged."""
    store = ApiKeyStore(db_engine)
    with capture_logs() as logs:
        crashed = await issue_ui_key(database_url)
        current = await issue_ui_key(database_url)
    assert await store.find_active(crashed) is None
    key = await store.find_active(current)
    assert key is not None
    assert (key.name, key.scopes) == (UI_KEY_NAME, frozenset({Scope.ADMIN}))
    assert not [entry for entry in logs if current in repr(entry) or crashed in repr(entry)]
    await revoke_ui_keys(database_url)
    assert await store.find_active(current) is None


async def test_revoking_with_the_database_gone_is_only_logged() -> None:
    """On exit an unreachable database leaves a warning, not a crash."""
    with capture_logs() as logs:
        await revoke_ui_keys("postgresql+asyncpg://vigil@127.0.0.1:1/vigil")
    assert [entry["event"] for entry in logs] == ["ui_api_key_not_revoked"]
