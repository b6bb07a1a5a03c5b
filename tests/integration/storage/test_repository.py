"""Repository reads and investigator actions against PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel, AlertStatus
from core.clock import ManualClock
from core.errors import InvalidInputError, NotFoundError
from core.models import Outcome
from core.records import DecisionRecord
from storage.persist import insert_records
from storage.repository import AlertFilter, Repository

MakeRecord = Callable[..., DecisionRecord]
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # make_record's first event time


async def _store(engine: AsyncEngine, *records: DecisionRecord) -> None:
    async with engine.begin() as connection:
        await insert_records(connection, list(records))


@pytest.fixture
async def repo(db_engine: AsyncEngine, make_record: MakeRecord) -> Repository:
    """Ten stored decisions: t0..t9 at one-minute steps; outcome by i % 3 (allow, review, block);
    accounts acct0..acct2 by i % 3, so acct1's alerts are reviews and acct2's are blocks."""
    outcomes = [Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK]
    await _store(db_engine, *[make_record(i, outcomes[i % 3]) for i in range(10)])
    return Repository(db_engine, clock=ManualClock(NOW))


async def test_get_decision_returns_what_was_stored(
    repo: Repository, make_record: MakeRecord
) -> None:
    """The stored transaction and decision equal the originals, with the alert attached."""
    original = make_record(5, Outcome.BLOCK)
    stored = await repo.get_decision("t5")
    assert stored.transaction == original.transaction
    assert stored.decision == original.decision
    assert stored.received_at == original.received_at
    assert stored.alert is not None
    assert stored.alert.outcome is Outcome.BLOCK


async def test_allowed_decision_has_no_alert(repo: Repository) -> None:
    """An allowed transaction comes back without an alert."""
    assert (await repo.get_decision("t3")).alert is None


async def test_unknown_transaction_is_not_found(repo: Repository) -> None:
    """Asking for a transaction never stored raises NotFoundError."""
    with pytest.raises(NotFoundError, match="'nope'"):
        await repo.get_decision("nope")


async def test_alerts_are_listed_newest_first(repo: Repository) -> None:
    """Without filters every review/block decision is listed, newest first."""
    page = await repo.list_alerts()
    assert [a.transaction_id for a in page.items] == ["t8", "t7", "t5", "t4", "t2", "t1"]
    assert page.next_cursor is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (AlertFilter(outcome=Outcome.BLOCK), ["t8", "t5", "t2"]),
        (AlertFilter(account_id="acct1"), ["t7", "t4", "t1"]),
        (AlertFilter(rule_id="r_review"), ["t7", "t4", "t1"]),
        (AlertFilter(rule_id="r_other"), []),
        (AlertFilter(min_score=0.8), ["t8", "t5", "t2"]),
        (AlertFilter(max_score=0.7), ["t7", "t4", "t1"]),
        (AlertFilter(status=AlertStatus.OPEN, outcome=Outcome.REVIEW), ["t7", "t4", "t1"]),
        (
            AlertFilter(since=T0 + timedelta(minutes=4), until=T0 + timedelta(minutes=8)),
            ["t7", "t5", "t4"],
        ),
    ],
)
async def test_alert_filters(repo: Repository, filters: AlertFilter, expected: list[str]) -> None:
    """Each filter keeps exactly the matching alerts (time range is [since, until))."""
    page = await repo.list_alerts(filters)
    assert [a.transaction_id for a in page.items] == expected


async def test_pages_cover_every_alert_once(repo: Repository) -> None:
    """Following cursors visits every alert exactly once, in order."""
    seen: list[str] = []
    page = await repo.list_alerts(limit=4)
    seen += [a.transaction_id for a in page.items]
    assert page.next_cursor is not None
    page = await repo.list_alerts(limit=4, after=page.next_cursor)
    seen += [a.transaction_id for a in page.items]
    assert page.next_cursor is None
    assert seen == ["t8", "t7", "t5", "t4", "t2", "t1"]


async def test_page_size_is_bounded(repo: Repository) -> None:
    """A page size of 0 or above the maximum is invalid input."""
    with pytest.raises(InvalidInputError, match="limit"):
        await repo.list_alerts(limit=0)


async def test_labelling_records_verdict_and_closes(repo: Repository) -> None:
    """A label stores verdict, note, who and when (the injected clock), and closes the alert."""
    alert = (await repo.list_alerts(AlertFilter(outcome=Outcome.BLOCK))).items[0]
    labelled = await repo.label_alert(alert.id, AlertLabel.FRAUD, note="card stolen", by="ana")
    assert labelled.label is AlertLabel.FRAUD
    assert (labelled.note, labelled.labelled_by, labelled.labelled_at) == (
        "card stolen",
        "ana",
        NOW,
    )
    assert labelled.status is AlertStatus.CLOSED
    closed = await repo.list_alerts(AlertFilter(status=AlertStatus.CLOSED))
    assert [a.id for a in closed.items] == [alert.id]
    by_label = await repo.list_alerts(AlertFilter(label=AlertLabel.FRAUD))
    assert [a.id for a in by_label.items] == [alert.id]


async def test_label_needs_someone_responsible(repo: Repository) -> None:
    """An empty `by` is invalid input."""
    alert = (await repo.list_alerts()).items[0]
    with pytest.raises(InvalidInputError, match="by"):
        await repo.label_alert(alert.id, AlertLabel.LEGIT, note=None, by=" ")


async def test_label_note_with_nul_is_invalid_input(repo: Repository) -> None:
    """A note PostgreSQL could not store (U+0000) is refused by name (web app and API alike)."""
    alert = (await repo.list_alerts()).items[0]
    with pytest.raises(InvalidInputError) as refused:
        await repo.label_alert(alert.id, AlertLabel.FRAUD, note="a\x00b", by="ana")
    assert [problem.location for problem in refused.value.problems] == ["note"]


async def test_labelling_an_unknown_alert_is_not_found(repo: Repository) -> None:
    """A missing alert id raises NotFoundError."""
    with pytest.raises(NotFoundError, match="999999"):
        await repo.label_alert(999999, AlertLabel.LEGIT, note=None, by="ana")


async def test_status_can_be_reopened(repo: Repository) -> None:
    """An alert closed by a label can be opened again without losing the label."""
    alert = (await repo.list_alerts()).items[0]
    await repo.label_alert(alert.id, AlertLabel.LEGIT, note=None, by="ana")
    reopened = await repo.set_alert_status(alert.id, AlertStatus.OPEN)
    assert reopened.status is AlertStatus.OPEN
    assert reopened.label is AlertLabel.LEGIT


async def test_recent_transactions_of_an_account(repo: Repository) -> None:
    """An account's transactions come newest first with their decisions, at most `limit`."""
    recent = await repo.recent_transactions("acct1", limit=2)
    assert [r.transaction.transaction_id for r in recent] == ["t7", "t4"]
    assert all(r.decision.outcome is Outcome.REVIEW for r in recent)
