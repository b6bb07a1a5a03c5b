"""Time as a parameter: every component that needs "now" receives a :class:`Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time, always timezone-aware."""

    def now(self) -> datetime:
        """Return the current time as an aware datetime."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and replays."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, by: timedelta) -> None:
        """Move the clock forward by ``by``."""
        self._now += by

    def set(self, to: datetime) -> None:
        """Jump to ``to`` (timezone-aware)."""
        if to.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware times")
        self._now = to
