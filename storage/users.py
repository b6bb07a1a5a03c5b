"""The web app's people: accounts, sign-in sessions and the audit log of what they did.

* **Accounts** (``users``) have a role (``analyst`` labels and closes alerts; ``admin`` may also
  publish rules, scale deployments and read the audit log) and a password hashed with Argon2id
  (argon2-cffi). A disabled account cannot sign in and its sessions end at once.
* **Sessions** (``user_sessions``) are random tokens given to a browser; only their SHA-256 is
  stored. A session ends at its absolute expiry, after ``idle`` without use, on sign-out, or when
  its account is disabled.
* **The audit log** (``audit_log``) records who did what to which target, with details.

The tables are in :mod:`storage.models` (migration ``0002``); results are frozen values.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock, SystemClock
from core.errors import ConflictError, InvalidInputError, NotFoundError, Problem
from storage.models import MAX_DISPLAY_NAME_LENGTH, AuditRow, Base, SessionRow, UserRow

USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
USERNAME_RULE: Final = "2-64 characters: lowercase letters, digits, '.', '_', '-'"
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024


class Role(enum.StrEnum):
    """What an account may do; ``admin`` may do everything an ``analyst`` may."""

    ANALYST = "analyst"
    ADMIN = "admin"

    def allows(self, required: Role) -> bool:
        """Whether this role may act where ``required`` is needed."""
        return self is Role.ADMIN or required is Role.ANALYST


_users = Base.metadata.tables[UserRow.__tablename__]
_sessions = Base.metadata.tables[SessionRow.__tablename__]
_audit = Base.metadata.tables[AuditRow.__tablename__]


@dataclass(frozen=True, slots=True)
class User:
    """An account as the app sees it (never with its password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Sessions last ``lifetime`` at most, end after ``idle`` unused; use is noted per ``touch``."""

    lifetime: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=1)
    touch: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def check_new_account(username: str, password: str, display_name: str) -> list[Problem]:
    """What is wrong with a new account's username, password and display name (nothing: [])."""
    problems = []
    if not USERNAME_PATTERN.fullmatch(username):
        problems.append(Problem("username", f"{username!r} is not {USERNAME_RULE}"))
    problems += check_password(password, username)
    if not display_name.strip():
        problems.append(Problem("display_name", "must not be blank"))
    elif len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        problems.append(Problem("display_name", f"at most {MAX_DISPLAY_NAME_LENGTH} characters"))
    return problems


def check_password(password: str, username: str) -> list[Problem]:
    """What is wrong with ``password`` for ``username`` (nothing: [])."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [Problem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [Problem("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")]
    if username and username in password.lower():
        return [Problem("password", "must not contain the username")]
    return []


def token_digest(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Accounts, sessions and the audit log in PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
        policy: SessionPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._hasher = hasher or PasswordHasher()
        self.policy = policy or SessionPolicy()
        self._dummy_hash: str | None = None

    async def add_user(
        self, username: str, password: str, *, role: Role, display_name: str | None = None
    ) -> User:
        """Create an account; :class:`InvalidInputError` / :class:`ConflictError` say why not."""
        name = display_name if display_name is not None else username
        problems = check_new_account(username, password, name)
        if problems:
            raise InvalidInputError("invalid account", problems)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        values = {
            "username": username,
            "display_name": name.strip(),
            "role": role.value,
            "password_hash": password_hash,
            "created_at": self._clock.now(),
        }
        try:
            async with self._engine.begin() as connection:
                row = (
                    (await connection.execute(insert(_users).values(values).returning(_users)))
                    .mappings()
                    .one()
                )
        except IntegrityError:
            raise ConflictError(f"an account named {username!r} already exists") from None
        return _user(row)

    async def list_users(self) -> list[User]:
        """Every account, by username."""
        async with self._engine.connect() as connection:
            rows = (await connection.execute(select(_users).order_by(_users.c.username))).mappings()
            return [_user(row) for row in rows]

    async def get_user(self, username: str) -> User:
        """The account named ``username``; :class:`NotFoundError` if there is none."""
        async with self._engine.connect() as connection:
            query = select(_users).where(_users.c.username == username)
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            raise NotFoundError(f"no account named {username!r}")
        return _user(row)

    async def set_disabled(self, username: str, *, disabled: bool) -> User:
        """Disable (ending its sessions) or enable an account."""
        async with self._engine.begin() as connection:
            statement = (
                update(_users)
                .where(_users.c.username == username)
                .values(disabled=disabled)
                .returning(_users)
            )
            row = (await connection.execute(statement)).mappings().first()
            if row is None:
                raise NotFoundError(f"no account named {username!r}")
            if disabled:
                await connection.execute(delete(_sessions).where(_sessions.c.user_id == row["id"]))
        return _user(row)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The enabled account whose password this is, else ``None`` (same work either way)."""
        async with self._engine.connect() as connection:
            query = select(_users).where(_users.c.username == username)
            row = (await connection.execute(query)).mappings().first()
        stored = row["password_hash"] if row is not None else await self._dummy()
        try:
            await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        if self._hasher.check_needs_rehash(stored):
            fresh = await asyncio.to_thread(self._hasher.hash, password)
            await self._set(row["id"], password_hash=fresh)
        await self._set(row["id"], last_login_at=self._clock.now())
        return _user(row)

    async def start_session(self, user: User) -> str:
        """A new session token for ``user`` (keep it secret; only its digest is stored)."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        values = {
            "token_hash": token_digest(token),
            "user_id": user.id,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + self.policy.lifetime,
        }
        async with self._engine.begin() as connection:
            await connection.execute(insert(_sessions).values(values))
            await connection.execute(delete(_sessions).where(_sessions.c.expires_at <= now))
        return token

    async def resolve_session(self, token: str) -> User | None:
        """The account a live session belongs to, noting its use; ``None`` once it has ended."""
        now = self._clock.now()
        digest = token_digest(token)
        query = (
            select(_sessions.c.last_seen_at, _sessions.c.expires_at, _users)
            .join(_users, _users.c.id == _sessions.c.user_id)
            .where(_sessions.c.token_hash == digest)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(query)).mappings().first()
            if row is None:
                return None
            idle_since = row["last_seen_at"] + self.policy.idle
            if row["disabled"] or now >= row["expires_at"] or now >= idle_since:
                await connection.execute(delete(_sessions).where(_sessions.c.token_hash == digest))
                return None
            if now - row["last_seen_at"] >= self.policy.touch:
                statement = (
                    update(_sessions)
                    .where(_sessions.c.token_hash == digest)
                    .values(last_seen_at=now)
                )
                await connection.execute(statement)
        return _user(row)

    async def end_session(self, token: str) -> None:
        """Sign out: the token no longer resolves."""
        async with self._engine.begin() as connection:
            statement = delete(_sessions).where(_sessions.c.token_hash == token_digest(token))
            await connection.execute(statement)

    async def record(
        self, actor: str, action: str, target: str, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        """Write one audit entry: ``actor`` did ``action`` to ``target``."""
        values = {
            "at": self._clock.now(),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details or {},
        }
        async with self._engine.begin() as connection:
            statement = insert(_audit).values(values).returning(_audit)
            row = (await connection.execute(statement)).mappings().one()
        return _audit_entry(row)

    async def audit_log(
        self, *, limit: int = 100, actor: str | None = None, target: str | None = None
    ) -> list[AuditEntry]:
        """The latest audit entries, newest first, optionally by one actor or on one target."""
        query = select(_audit).order_by(_audit.c.at.desc(), _audit.c.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(_audit.c.actor == actor)
        if target is not None:
            query = query.where(_audit.c.target == target)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings()
            return [_audit_entry(row) for row in rows]

    async def _set(self, user_id: int, **values: Any) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(update(_users).where(_users.c.id == user_id).values(values))

    async def _dummy(self) -> str:
        """A hash to verify against when the username is unknown, so timing does not tell."""
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        return self._dummy_hash


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        disabled=row["disabled"],
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
    )


def _audit_entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        details=dict(row["details"]),
    )
