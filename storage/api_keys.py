"""API keys of the HTTP gateway: issued once, stored hashed, revocable (table ``api_keys``).

A key reads ``vgl_<prefix>_<secret>``: ``prefix`` is 8 characters (lowercase base32, at least one
letter) that name the key in listings and may be shown; ``secret`` is 32 random bytes
(``secrets.token_urlsafe``). Only the SHA-256 of the whole key is stored. A fast unsalted hash is
the standard for API keys (unlike passwords, see :mod:`storage.users`): with 256 random bits there
is nothing to guess, and verification must cost microseconds on every request. The plaintext is
returned once, by :meth:`ApiKeyStore.create`, and never again.

A key has a name (who or what uses it), its scopes (:class:`core.access.Scope`), who created it,
and ``revoked_at`` once revoked; ``last_used_at`` is noted at most once per ``touch`` interval.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.access import Scope
from core.clock import Clock, SystemClock
from core.errors import InvalidInputError, NotFoundError, Problem
from storage.models import API_KEY_PREFIX_LENGTH, ApiKeyRow, Base

KEY_MARKER: Final = "vgl"
PREFIX_LENGTH: Final = API_KEY_PREFIX_LENGTH
NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,63}$")
NAME_RULE: Final = "1-64 characters: letters, digits, space and . _ : @ - (not first)"
_PREFIX_PATTERN: Final = re.compile(r"^[a-z2-7]{8}$")
_SECRET_BYTES: Final = 32
_MIN_SECRET_LENGTH: Final = 43  # token_urlsafe(32)
_MAX_KEY_LENGTH: Final = 256
_CREATE_ATTEMPTS: Final = 5


_keys = Base.metadata.tables[ApiKeyRow.__tablename__]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listings show it (never its secret or hash)."""

    id: int
    prefix: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None

    @property
    def display(self) -> str:
        """The non-secret start of the key, ``vgl_<prefix>_...``."""
        return f"{KEY_MARKER}_{self.prefix}_..."


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly created key: its record and, this once, its full text."""

    key: ApiKey
    secret: str
    """The whole key, ``vgl_<prefix>_<secret>``; it cannot be shown again."""


def generate_key() -> tuple[str, str]:
    """A new random key and its prefix: ``(prefix, "vgl_<prefix>_<secret>")``."""
    while True:
        prefix = base64.b32encode(secrets.token_bytes(5)).decode().lower()
        if not prefix.isdigit():  # an all-digit prefix would read like a key id
            break
    return prefix, f"{KEY_MARKER}_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def key_prefix(api_key: str) -> str | None:
    """The prefix of a well-formed key, else ``None`` (no lookup is worth doing)."""
    if len(api_key) > _MAX_KEY_LENGTH:
        return None
    marker, _, rest = api_key.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != KEY_MARKER or not _PREFIX_PATTERN.fullmatch(prefix):
        return None
    return prefix if len(secret) >= _MIN_SECRET_LENGTH else None


def key_digest(api_key: str) -> str:
    """The stored form of a key: hex SHA-256 of its text."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def check_new_key(name: str, scopes: Iterable[Scope]) -> list[Problem]:
    """What is wrong with a new key's name and scopes (nothing: [])."""
    problems = []
    if not NAME_PATTERN.fullmatch(name):
        problems.append(Problem("name", f"{name!r} is not {NAME_RULE}"))
    if not set(scopes):
        problems.append(Problem("scopes", "give at least one scope: score, read or admin"))
    return problems


class ApiKeyStore:
    """API keys in PostgreSQL: create, list, revoke, and find the active key a client sent."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock | None = None,
        touch: timedelta = timedelta(minutes=1),
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._touch = touch

    async def create(self, name: str, scopes: Iterable[Scope], *, created_by: str) -> IssuedKey:
        """Issue a key; the returned :attr:`IssuedKey.secret` is the only copy of its text."""
        chosen = frozenset(scopes)
        problems = check_new_key(name, chosen)
        if problems:
            raise InvalidInputError("invalid API key", problems)
        for _ in range(_CREATE_ATTEMPTS):
            prefix, secret = generate_key()
            values = {
                "prefix": prefix,
                "key_hash": key_digest(secret),
                "name": name,
                "scopes": sorted(scope.value for scope in chosen),
                "created_at": self._clock.now(),
                "created_by": created_by[:64],
            }
            try:
                async with self._engine.begin() as connection:
                    statement = insert(_keys).values(values).returning(_keys)
                    row = (await connection.execute(statement)).mappings().one()
            except IntegrityError:  # a prefix collision (1 in 2^40 per pair); draw again
                continue
            return IssuedKey(key=_api_key(row), secret=secret)
        raise RuntimeError("could not draw an unused API key prefix")  # pragma: no cover

    async def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key (or only the active ones), oldest first."""
        query = select(_keys).order_by(_keys.c.id)
        if not include_revoked:
            query = query.where(_keys.c.revoked_at.is_(None))
        async with self._engine.connect() as connection:
            return [_api_key(row) for row in (await connection.execute(query)).mappings()]

    async def revoke(self, id_or_prefix: str) -> ApiKey:
        """Revoke the key with this id or prefix (``vgl_<prefix>`` also works); idempotent.

        :class:`NotFoundError` when no key matches.
        """
        match = _match(id_or_prefix)
        now = self._clock.now()
        async with self._engine.begin() as connection:
            statement = (
                update(_keys)
                .where(match, _keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(_keys)
            )
            row = (await connection.execute(statement)).mappings().first()
            if row is None:  # unknown, or revoked before
                row = (await connection.execute(select(_keys).where(match))).mappings().first()
        if row is None:
            raise NotFoundError(
                f"no API key with id or prefix {id_or_prefix!r}; see `vigil keys list`"
            )
        return _api_key(row)

    async def revoke_named(self, name: str) -> int:
        """Revoke every active key named ``name``; how many were revoked."""
        statement = (
            update(_keys)
            .where(_keys.c.name == name, _keys.c.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount

    async def find_active(self, api_key: str) -> ApiKey | None:
        """The unrevoked key whose text this is, noting its use; ``None`` for anything else."""
        if key_prefix(api_key) is None:
            return None
        now = self._clock.now()
        query = select(_keys).where(
            _keys.c.key_hash == key_digest(api_key), _keys.c.revoked_at.is_(None)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(query)).mappings().first()
            if row is None:
                return None
            last = row["last_used_at"]
            if last is None or now - last >= self._touch:
                touch = update(_keys).where(_keys.c.id == row["id"]).values(last_used_at=now)
                await connection.execute(touch)
        return _api_key(row)


def _match(id_or_prefix: str) -> ColumnElement[bool]:
    text = id_or_prefix.strip()
    if text.isdigit():
        return _keys.c.id == int(text)
    marker, _, rest = text.partition("_")
    if marker == KEY_MARKER and rest:
        text = rest.partition("_")[0]
    return _keys.c.prefix == text.lower()


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        prefix=row["prefix"],
        name=row["name"],
        scopes=frozenset(Scope(value) for value in row["scopes"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )
