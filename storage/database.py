"""Database URLs and engines: always ``postgresql+asyncpg://``.

``postgresql://`` and ``postgres://`` URLs are accepted and given the asyncpg driver; any other
driver is a :class:`ConfigError`. JSONB values are (de)serialised with msgspec.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.errors import ConfigError, Problem

DRIVER: Final = "postgresql+asyncpg"
_ACCEPTED_SCHEMES: Final = {"postgresql", "postgres", DRIVER}


def database_url(url: str | URL) -> URL:
    """``url`` parsed and given the asyncpg driver; :class:`ConfigError` if it is not PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "invalid database URL",
            [Problem("database_url", "expected postgresql+asyncpg://user@host:port/database")],
        ) from None
    if parsed.drivername not in _ACCEPTED_SCHEMES:
        raise ConfigError(
            "unsupported database URL",
            [
                Problem(
                    "database_url",
                    f"scheme {parsed.drivername!r} is not PostgreSQL through asyncpg; "
                    f"write {DRIVER}://...",
                )
            ],
        )
    return parsed.set(drivername=DRIVER)


def redacted(url: str | URL) -> str:
    """``url`` with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _json_dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def create_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An async engine for ``url`` (see :func:`database_url`); ``options`` go to SQLAlchemy."""
    defaults: dict[str, Any] = {
        "pool_pre_ping": True,
        "json_serializer": _json_dumps,
        "json_deserializer": msgspec.json.decode,
    }
    return create_async_engine(database_url(url), **{**defaults, **options})
