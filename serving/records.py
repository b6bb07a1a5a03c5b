"""What the gateway needs from the record store (PostgreSQL, through ``storage``).

:class:`Records` is the part of :class:`storage.repository.Repository` the routes use, as a
protocol: the real repository satisfies it as is (``create_app(records=Repository(engine))``), and
unit tests pass an in-memory fake.
"""

from __future__ import annotations

from typing import Protocol

from core.alerts import AlertLabel
from storage.repository import Alert, AlertCursor, AlertFilter, AlertPage, StoredDecision


class Records(Protocol):
    """Stored decisions and alerts."""

    async def get_decision(self, transaction_id: str) -> StoredDecision:
        """The stored decision; :class:`core.errors.NotFoundError` if there is none."""
        ...

    async def list_alerts(
        self,
        filters: AlertFilter | None = None,
        *,
        limit: int = 50,
        after: AlertCursor | None = None,
    ) -> AlertPage:
        """Alerts matching ``filters``, newest first, at most ``limit``, after ``after``."""
        ...

    async def label_alert(
        self, alert_id: int, label: AlertLabel, *, note: str | None, by: str, close: bool = True
    ) -> Alert:
        """Record a verdict and who gave it; :class:`core.errors.NotFoundError` if no such alert."""
        ...
