"""Label events in PostgreSQL: history kept, latest known wins, idempotent, per-item answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.access import Scope
from core.alerts import AlertLabel
from core.clock import ManualClock
from core.errors import InvalidInputError
from core.labels import LabelStatus
from core.models import Outcome
from core.records import DecisionRecord
from storage.api_keys import ApiKeyStore
from storage.labels import LabelStore, NewLabel
from storage.models import LabelRow
from storage.persist import insert_records
from storage.repository import AlertFilter, Repository

MakeRecord = Callable[..., DecisionRecord]
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # make_record's first event time
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
FRAUD, LEGIT = AlertLabel.FRAUD, AlertLabel.LEGIT


@pytest.fixture
async def store(db_engine: AsyncEngine, make_record: MakeRecord) -> LabelStore:
    """Four stored transactions t0..t3 (t1 a review alert), labels recorded at NOW."""
    records = [make_record(i, Outcome.REVIEW if i == 1 else Outcome.ALLOW) for i in range(4)]
    async with db_engine.begin() as connection:
        await insert_records(connection, records)
    return LabelStore(db_engine, clock=ManualClock(NOW))


def day(n: int) -> datetime:
    """Midnight UTC of January ``n``, 2026 (t0..t3 happened on January 1)."""
    return datetime(2026, 1, n, tzinfo=UTC)


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(LabelRow))).scalar()
    return int(count or 0)


async def test_recorded_label_carries_the_transaction_entities(store: LabelStore) -> None:
    """A stored label comes back as a KnownLabel with the transaction's entities and time."""
    [outcome] = await store.record([NewLabel("t1", FRAUD, day(5), "chargeback")], by="ops")
    assert outcome.status is LabelStatus.RECORDED
    assert outcome.current is FRAUD
    known = outcome.known
    assert known is not None
    assert (known.account_id, known.merchant_id, known.device_id, known.ip_address) == (
        "acct1",
        "m1",
        "dev1",
        "192.0.2.10",
    )
    assert known.event_time == T0 + timedelta(minutes=1)
    assert (known.label, known.known_at, known.source) == (FRAUD, day(5), "chargeback")


async def test_history_is_kept_and_the_latest_known_wins(store: LabelStore) -> None:
    """Every event is kept; the current label is the one with the greatest known_at, whatever
    the order they were recorded in."""
    await store.record([NewLabel("t1", LEGIT, day(10), "analyst")], by="ana")
    await store.record([NewLabel("t1", FRAUD, day(20), "chargeback")], by="ops")
    [late_news] = await store.record([NewLabel("t1", LEGIT, day(15), "dispute")], by="ops")
    assert late_news.status is LabelStatus.RECORDED
    assert late_news.current is FRAUD
    history = await store.history("t1")
    assert [(e.known.label, e.known.known_at) for e in history] == [
        (LEGIT, day(10)),
        (LEGIT, day(15)),
        (FRAUD, day(20)),
    ]
    assert [e.recorded_by for e in history] == ["ana", "ops", "ops"]
    assert (await store.current(["t1"]))["t1"].label is FRAUD


async def test_a_tie_in_known_at_goes_to_the_label_recorded_last(store: LabelStore) -> None:
    """Two labels known at the same time: the one recorded later (or later in a batch) wins."""
    await store.record(
        [NewLabel("t2", FRAUD, day(3), "analyst"), NewLabel("t2", LEGIT, day(3), "dispute")],
        by="ops",
    )
    assert (await store.current(["t2"]))["t2"].label is LEGIT
    [again] = await store.record([NewLabel("t2", FRAUD, day(3), "chargeback")], by="ops")
    assert again.current is FRAUD


async def test_the_same_label_twice_is_stored_once(
    store: LabelStore, db_engine: AsyncEngine
) -> None:
    """Resending a batch (same transaction, label, known_at, source) stores nothing new; an
    identical item later in the same batch is unchanged too; another source is a new event."""
    label = NewLabel("t0", FRAUD, day(4), "chargeback")
    first = await store.record([label, label], by="ops")
    assert [o.status for o in first] == [LabelStatus.RECORDED, LabelStatus.UNCHANGED]
    same_instant = NewLabel(
        "t0", FRAUD, day(4).astimezone(timezone(timedelta(hours=2))), "chargeback"
    )
    [retry] = await store.record([same_instant], by="ops")
    assert retry.status is LabelStatus.UNCHANGED
    assert retry.current is FRAUD
    [other_source] = await store.record([NewLabel("t0", FRAUD, day(4), "dispute")], by="ops")
    assert other_source.status is LabelStatus.RECORDED
    assert await _rows(db_engine) == 2


async def test_unknown_ids_are_reported_per_item(store: LabelStore, db_engine: AsyncEngine) -> None:
    """Unknown transactions and labels known before their transaction are answered per item;
    the other items of the batch are stored."""
    outcomes = await store.record(
        [
            NewLabel("t3", FRAUD, day(2), "chargeback"),
            NewLabel("nope", FRAUD, day(2), "chargeback"),
            NewLabel("t0", LEGIT, T0 - timedelta(days=1), "chargeback"),
        ],
        by="ops",
    )
    assert [o.status for o in outcomes] == [
        LabelStatus.RECORDED,
        LabelStatus.UNKNOWN_TRANSACTION,
        LabelStatus.KNOWN_BEFORE_TRANSACTION,
    ]
    assert outcomes[1].known is None
    assert outcomes[1].detail is not None
    assert "nope" in outcomes[1].detail
    assert outcomes[2].detail is not None
    assert "before the transaction" in outcomes[2].detail
    assert (outcomes[1].current, outcomes[2].current) == (None, None)
    assert await _rows(db_engine) == 1


async def test_labels_known_by_a_cutoff_ignore_later_news(store: LabelStore) -> None:
    """labels_known_by(cutoff) gives each transaction's label as it stood at the cutoff, in
    event-time order, leaving out transactions labelled only later."""
    await store.record(
        [
            NewLabel("t2", LEGIT, day(5), "analyst"),
            NewLabel("t2", FRAUD, day(20), "chargeback"),
            NewLabel("t0", FRAUD, day(8), "chargeback"),
            NewLabel("t3", FRAUD, day(25), "chargeback"),
        ],
        by="ops",
    )
    at_day_10 = await store.labels_known_by(day(10))
    assert [(k.transaction_id, k.label) for k in at_day_10] == [("t0", FRAUD), ("t2", LEGIT)]
    at_day_20 = await store.labels_known_by(day(20))
    assert [(k.transaction_id, k.label) for k in at_day_20] == [("t0", FRAUD), ("t2", FRAUD)]
    assert [k.transaction_id for k in await store.labels_known_by(day(30))] == ["t0", "t2", "t3"]


async def test_malformed_items_store_nothing(store: LabelStore, db_engine: AsyncEngine) -> None:
    """A naive known_at or a bad source name rejects the batch, naming the item and field."""
    naive = datetime(2026, 1, 5)  # noqa: DTZ001 - the mistake under test
    with pytest.raises(InvalidInputError) as refused:
        await store.record(
            [NewLabel("t0", FRAUD, day(5), "chargeback"), NewLabel("t1", FRAUD, naive, "Bad!")],
            by="ops",
        )
    locations = [p.location for p in refused.value.problems]
    assert locations == ["items[1].source", "items[1].known_at"]
    assert await _rows(db_engine) == 0


async def test_a_large_batch_is_stored_in_one_go(
    db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """More items than one statement takes are still one batch with one answer per item."""
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(i) for i in range(1200)])
    store = LabelStore(db_engine, clock=ManualClock(NOW))
    items = [NewLabel(f"t{i}", FRAUD if i % 2 else LEGIT, day(9), "import") for i in range(1200)]
    outcomes = await store.record([*items, NewLabel("t-missing", FRAUD, day(9), "import")], by="x")
    assert [o.status for o in outcomes].count(LabelStatus.RECORDED) == 1200
    assert outcomes[-1].status is LabelStatus.UNKNOWN_TRANSACTION
    assert outcomes[1199].current is FRAUD
    assert len(await store.labels_known_by(day(9))) == 1200


async def test_labelling_an_alert_records_an_analyst_label(
    store: LabelStore, db_engine: AsyncEngine
) -> None:
    """An investigator's verdict on an alert is also a label event (source analyst, known now)
    that wins over labels known earlier."""
    await store.record([NewLabel("t1", LEGIT, day(3), "dispute")], by="ops")
    repo = Repository(db_engine, clock=ManualClock(NOW))
    [alert] = (await repo.list_alerts(AlertFilter())).items
    await repo.label_alert(alert.id, FRAUD, note="confirmed", by="ana")
    history = await store.history("t1")
    assert [(e.known.label, e.known.source, e.recorded_by) for e in history] == [
        (LEGIT, "dispute", "ops"),
        (FRAUD, "analyst", "ana"),
    ]
    assert history[-1].known.known_at == NOW
    assert (await store.current(["t1"]))["t1"].label is FRAUD


async def test_an_alert_label_ahead_of_the_clock_is_known_from_the_event_time(
    db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """A verdict given (by our clock) before the transaction's own, slightly ahead, event time is
    known from the event time instead of being refused."""
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(1, Outcome.REVIEW)])
    event_time = T0 + timedelta(minutes=1)
    repo = Repository(db_engine, clock=ManualClock(event_time - timedelta(seconds=30)))
    [alert] = (await repo.list_alerts(AlertFilter())).items
    await repo.label_alert(alert.id, LEGIT, note=None, by="ana")
    [event] = await LabelStore(db_engine).history("t1")
    assert event.known.known_at == event_time


async def test_an_api_key_may_hold_the_label_scope(db_engine: AsyncEngine) -> None:
    """Keys for label feeds can be issued with only the label scope (migration 0004)."""
    issued = await ApiKeyStore(db_engine).create("chargebacks", {Scope.LABEL}, created_by="test")
    assert issued.key.scopes == {Scope.LABEL}
