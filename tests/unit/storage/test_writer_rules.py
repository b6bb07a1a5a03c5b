"""Writer decisions that need no services: settings and which database errors are poison."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from core.errors import ConfigError
from storage.writer import WriterConfig, rejects_data


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _error(sqlstate: str | None) -> DBAPIError:
    return DBAPIError("INSERT ...", None, _DriverError(sqlstate))


@pytest.mark.parametrize("sqlstate", ["22P05", "22003", "23505", "23514"])
def test_data_and_integrity_errors_are_poison(sqlstate: str) -> None:
    """SQLSTATE classes 22 and 23 mean the values themselves are refused."""
    assert rejects_data(_error(sqlstate))


@pytest.mark.parametrize("sqlstate", ["08006", "57P01", "42P01", "40001", None])
def test_other_errors_are_retried(sqlstate: str | None) -> None:
    """Lost connections, shutdowns, a missing table or serialisation failures are not poison."""
    assert not rejects_data(_error(sqlstate))


def test_settings_are_checked_together() -> None:
    """Every bad writer setting is reported at once."""
    with pytest.raises(ConfigError, match=r"(?s)batch_size.*claim_idle_ms") as caught:
        WriterConfig(batch_size=0, claim_idle_ms=-1)
    assert len(caught.value.problems) == 2
