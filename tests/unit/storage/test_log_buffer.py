"""Queueing structlog events for the logs table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.clock import ManualClock
from storage.logs import LogBuffer

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_processor_passes_the_event_on_unchanged() -> None:
    """The buffer is transparent to the rest of the processor chain."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    event = {"event": "transaction_scored", "level": "info", "amount": Decimal("3.5")}
    assert buffer(None, "info", event) is event
    assert event["amount"] == Decimal("3.5")


def test_queued_copy_is_json_safe_and_indexed() -> None:
    """The queued entry has level, logger, transaction id and a JSON-safe payload."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    buffer(
        None,
        "warning",
        {"event": "rule_failed", "logger": "rules", "transaction_id": "t1", "at": NOW},
    )
    (entry,) = buffer.take(10)
    assert (entry.ts, entry.level, entry.event, entry.logger) == (
        NOW,
        "warning",
        "rule_failed",
        "rules",
    )
    assert entry.transaction_id == "t1"
    assert entry.payload["at"] == "2026-03-01T09:30:00Z"
    assert "event" not in entry.payload


def test_level_from_the_event_wins_over_the_method() -> None:
    """``add_log_level`` output is used when present."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    buffer(None, "msg", {"event": "x", "level": "error"})
    assert buffer.take(1)[0].level == "error"


def test_full_queue_drops_oldest_and_counts() -> None:
    """When full, the oldest events go and the count says how many."""
    buffer = LogBuffer(capacity=2, clock=ManualClock(NOW))
    for name in ("a", "b", "c"):
        buffer(None, "info", {"event": name})
    assert [e.event for e in buffer.take(10)] == ["b", "c"]
    assert buffer.take_dropped() == 1
    assert buffer.take_dropped() == 0


def test_given_back_entries_come_first_again() -> None:
    """Entries that failed to write are retried before newer ones."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    for name in ("a", "b", "c"):
        buffer(None, "info", {"event": name})
    batch = buffer.take(2)
    buffer.give_back(batch, dropped=3)
    assert [e.event for e in buffer.take(10)] == ["a", "b", "c"]
    assert buffer.take_dropped() == 3
