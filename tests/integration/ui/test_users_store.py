"""Accounts, sessions and the audit log (storage.users) against PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from core.errors import ConflictError, InvalidInputError, NotFoundError
from storage.users import Role, SessionPolicy, UserStore

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test account's password


@pytest.fixture
def clock() -> ManualClock:
    """A clock the tests move by hand."""
    return ManualClock(NOW)


@pytest.fixture
def store(db_engine: AsyncEngine, clock: ManualClock) -> UserStore:
    """A store with a cheap Argon2 hasher and short session limits."""
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    policy = SessionPolicy(
        lifetime=timedelta(hours=8), idle=timedelta(minutes=30), touch=timedelta(minutes=1)
    )
    return UserStore(db_engine, clock=clock, hasher=hasher, policy=policy)


async def test_added_user_signs_in_with_their_password(store: UserStore) -> None:
    """The right password returns the account; a wrong one or an unknown name returns None."""
    added = await store.add_user("alice", PASSWORD, role=Role.ANALYST, display_name="Alice A")
    assert added.role is Role.ANALYST
    signed_in = await store.authenticate("alice", PASSWORD)
    assert signed_in is not None
    assert signed_in.display_name == "Alice A"
    assert await store.authenticate("alice", "wrong password!!") is None
    assert await store.authenticate("bob", PASSWORD) is None
    assert (await store.get_user("alice")).last_login_at == NOW


async def test_password_is_stored_hashed(store: UserStore, db_engine: AsyncEngine) -> None:
    """Only an Argon2id hash of the password reaches the database."""
    await store.add_user("alice", PASSWORD, role=Role.ADMIN)
    async with db_engine.connect() as connection:
        stored = (await connection.execute(text("SELECT password_hash FROM users"))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_bad_accounts_are_rejected_with_every_problem(store: UserStore) -> None:
    """A bad username and a short password are both named."""
    with pytest.raises(InvalidInputError) as caught:
        await store.add_user("Bad Name", "short", role=Role.ANALYST)
    assert [p.location for p in caught.value.problems] == ["username", "password"]


async def test_duplicate_username_is_a_conflict(store: UserStore) -> None:
    """A second account with the same name is refused."""
    await store.add_user("alice", PASSWORD, role=Role.ANALYST)
    with pytest.raises(ConflictError, match="alice"):
        await store.add_user("alice", PASSWORD + "x", role=Role.ADMIN)


async def test_disabled_user_cannot_sign_in_and_loses_sessions(store: UserStore) -> None:
    """Disabling ends live sessions and refuses the password; enabling restores sign-in."""
    user = await store.add_user("alice", PASSWORD, role=Role.ANALYST)
    token = await store.start_session(user)
    await store.set_disabled("alice", disabled=True)
    assert await store.resolve_session(token) is None
    assert await store.authenticate("alice", PASSWORD) is None
    await store.set_disabled("alice", disabled=False)
    assert await store.authenticate("alice", PASSWORD) is not None


async def test_disabling_an_unknown_user_is_not_found(store: UserStore) -> None:
    """There is nobody to disable."""
    with pytest.raises(NotFoundError, match="nobody"):
        await store.set_disabled("nobody", disabled=True)


async def test_session_ends_after_idle_time(store: UserStore, clock: ManualClock) -> None:
    """A session used within the idle limit lives on; one left idle longer ends."""
    user = await store.add_user("alice", PASSWORD, role=Role.ANALYST)
    token = await store.start_session(user)
    clock.advance(timedelta(minutes=29))
    assert await store.resolve_session(token) == user
    clock.advance(timedelta(minutes=29))
    assert await store.resolve_session(token) == user
    clock.advance(timedelta(minutes=31))
    assert await store.resolve_session(token) is None


async def test_session_ends_at_its_lifetime_even_when_used(
    store: UserStore, clock: ManualClock
) -> None:
    """Regular use does not extend a session past its absolute lifetime."""
    user = await store.add_user("alice", PASSWORD, role=Role.ANALYST)
    token = await store.start_session(user)
    for _ in range(16):
        clock.advance(timedelta(minutes=29))
        assert await store.resolve_session(token) is not None
    clock.advance(timedelta(minutes=29))  # 8 h 13 min after sign-in
    assert await store.resolve_session(token) is None


async def test_signed_out_session_no_longer_resolves(store: UserStore) -> None:
    """end_session invalidates the token; an invented token never resolves."""
    user = await store.add_user("alice", PASSWORD, role=Role.ANALYST)
    token = await store.start_session(user)
    await store.end_session(token)
    assert await store.resolve_session(token) is None
    assert await store.resolve_session("invented") is None


async def test_audit_log_lists_newest_first_and_filters(
    store: UserStore, clock: ManualClock
) -> None:
    """Entries come back newest first, filtered by actor or target."""
    await store.record("alice", "alert_labelled", "alert:1", {"label": "fraud"})
    clock.advance(timedelta(seconds=5))
    await store.record("bob", "alert_closed", "alert:2")
    entries = await store.audit_log()
    assert [(e.actor, e.action) for e in entries] == [
        ("bob", "alert_closed"),
        ("alice", "alert_labelled"),
    ]
    assert entries[1].details == {"label": "fraud"}
    assert [e.actor for e in await store.audit_log(actor="alice")] == ["alice"]
    assert [e.target for e in await store.audit_log(target="alert:2")] == ["alert:2"]


def test_admin_role_allows_everything_analyst_only_analyst() -> None:
    """admin may act where analyst or admin is needed; analyst only where analyst is."""
    assert Role.ADMIN.allows(Role.ANALYST)
    assert Role.ADMIN.allows(Role.ADMIN)
    assert Role.ANALYST.allows(Role.ANALYST)
    assert not Role.ANALYST.allows(Role.ADMIN)
