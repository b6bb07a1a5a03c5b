"""Page cursors of the alert listing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InvalidInputError
from storage.repository import AlertCursor


def test_cursor_survives_encoding() -> None:
    """A cursor decodes to the position it encoded."""
    cursor = AlertCursor(created_at=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), id=42)
    assert AlertCursor.decode(cursor.encode()) == cursor


def test_token_is_url_safe() -> None:
    """Tokens can go in a query string as they are."""
    token = AlertCursor(created_at=datetime(2026, 1, 2, tzinfo=UTC), id=7).encode()
    assert token.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGEgY3Vyc29y", "MjAyNi0wMS0wMlQwMDowMDowMHw3"])
def test_foreign_tokens_are_input_errors(token: str) -> None:
    """Garbage, or a cursor with a naive time, is rejected as invalid input."""
    with pytest.raises(InvalidInputError, match="invalid page cursor"):
        AlertCursor.decode(token)
