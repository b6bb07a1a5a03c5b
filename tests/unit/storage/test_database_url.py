"""Database URLs always use PostgreSQL through asyncpg."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from storage.database import database_url, redacted


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h:5432/d", "postgres://u@h:5432/d", "postgresql+asyncpg://u@h:5432/d"],
)
def test_postgres_urls_get_the_asyncpg_driver(url: str) -> None:
    """Plain PostgreSQL URLs are given the asyncpg driver."""
    assert database_url(url).render_as_string() == "postgresql+asyncpg://u@h:5432/d"


def test_other_drivers_are_refused_with_the_fix() -> None:
    """A psycopg or MySQL URL is a configuration error that says what to write."""
    with pytest.raises(ConfigError, match=r"postgresql\+psycopg.*write postgresql\+asyncpg://"):
        database_url("postgresql+psycopg://u@h/d")


def test_garbage_is_refused() -> None:
    """A string that is not a URL is a configuration error."""
    with pytest.raises(ConfigError, match="invalid database URL"):
        database_url("not a url")


def test_passwords_are_hidden() -> None:
    """Messages never show the password."""
    assert "s3cret" not in redacted("postgresql+asyncpg://u:s3cret@h/d")
