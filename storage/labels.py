"""Known outcomes in PostgreSQL: every label event kept, the latest known one wins.

A label event says a transaction is fraud or legit, known from ``known_at`` on, from a ``source``
(``analyst``, ``chargeback``, ...); it is one row of ``labels`` (:class:`storage.models.LabelRow`),
never updated or deleted. A transaction's **current** label is its event with the greatest
``known_at``; a tie goes to the event recorded last. Training asks what was known by a cutoff
(:meth:`LabelStore.labels_known_by`), so it never learns from a label before it existed.

Recording a batch (:func:`record_labels`, :meth:`LabelStore.record`) answers per item, never
failing the batch for one item: ``recorded``, ``unchanged`` (the same transaction, label,
known-at time and source was stored before: retrying a batch is safe), ``unknown_transaction`` (no
such transaction is stored) or ``known_before_transaction`` (``known_at`` earlier than the
transaction's own event time: a label cannot be known before the transaction happened, and
storing it would leak it into the transaction's own features). Each stored item comes back as a
:class:`core.labels.KnownLabel` carrying the transaction's entities, for the online store.

Each batch is one transaction and one round trip per statement: the ids are resolved with one
``SELECT``, the events inserted with one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO
NOTHING RETURNING``, and the current labels read with one ``SELECT DISTINCT ON``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import Select, String, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.alerts import AlertLabel
from core.clock import Clock, SystemClock
from core.errors import InvalidInputError, Problem
from core.labels import KnownLabel, LabelSourceName, LabelStatus
from core.models import Identifier
from storage.models import ID_LENGTH, Base, LabelRow, TransactionRow

MAX_LABELS_PER_STATEMENT: Final = 1000
"""Items per ``INSERT`` / ids per ``SELECT``; a larger batch takes several, in one transaction."""

_labels = Base.metadata.tables[LabelRow.__tablename__]
_transactions = Base.metadata.tables[TransactionRow.__tablename__]
_ENTITY_COLUMNS: Final = (
    _transactions.c.transaction_id,
    _transactions.c.account_id,
    _transactions.c.merchant_id,
    _transactions.c.device_id,
    _transactions.c.ip_address,
    _transactions.c.timestamp,
)
_LABEL_COLUMNS: Final = (
    _labels.c.label,
    _labels.c.known_at,
    _labels.c.source,
)
_INSERT: Final = text(
    "INSERT INTO labels (transaction_id, label, known_at, source, recorded_at, recorded_by) "
    "SELECT u.transaction_id, u.label, u.known_at, u.source, "
    "CAST(:recorded_at AS TIMESTAMPTZ), CAST(:recorded_by AS VARCHAR) "
    "FROM unnest(CAST(:transaction_ids AS VARCHAR[]), CAST(:labels AS VARCHAR[]), "
    "CAST(:known_ats AS TIMESTAMPTZ[]), CAST(:sources AS VARCHAR[])) "
    "WITH ORDINALITY AS u(transaction_id, label, known_at, source, position) "
    "ORDER BY u.position "  # ids follow the items' order: the later of two ties wins
    "ON CONFLICT (transaction_id, label, known_at, source) DO NOTHING "
    "RETURNING transaction_id, label, known_at, source"
)
_BY_LATEST: Final = (
    _labels.c.transaction_id,
    _labels.c.known_at.desc(),
    _labels.c.recorded_at.desc(),
    _labels.c.id.desc(),
)

_Key = tuple[str, str, datetime, str]


@dataclass(frozen=True, slots=True)
class NewLabel:
    """A label to record: transaction ``transaction_id`` is ``label``, known from ``known_at``."""

    transaction_id: str
    label: AlertLabel
    known_at: datetime
    """Timezone-aware."""
    source: str
    """A :data:`core.labels.LabelSourceName`: ``analyst``, ``chargeback``, ``dispute``, ..."""

    def key(self) -> _Key:
        """What makes two label events the same one."""
        return (self.transaction_id, self.label.value, self.known_at, self.source)


@dataclass(frozen=True, slots=True)
class LabelOutcome:
    """What became of one item of a batch."""

    item: NewLabel
    """The item as stored (``known_at`` raised to the event time where that was asked for)."""
    status: LabelStatus
    known: KnownLabel | None = None
    """The label with its transaction's entities; ``None`` when the transaction is unknown."""
    current: AlertLabel | None = None
    """The transaction's current label after the batch; ``None`` when it is unknown."""
    detail: str | None = None
    """Why the item was not stored, when it was not."""


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """One stored label event, with who recorded it and when."""

    id: int
    known: KnownLabel
    recorded_at: datetime
    recorded_by: str


def label_problems(items: Sequence[NewLabel], *, by: str) -> list[Problem]:
    """What is wrong with ``items`` (located ``items[i].field``) and with ``by``."""
    problems: list[Problem] = []
    if not by.strip() or len(by) > ID_LENGTH:
        problems.append(Problem("by", f"who records labels must be 1 to {ID_LENGTH} characters"))
    for index, item in enumerate(items):
        where = f"items[{index}]"
        for name, value, kind in (
            ("transaction_id", item.transaction_id, Identifier),
            ("source", item.source, LabelSourceName),
        ):
            try:
                msgspec.convert(value, kind)
            except msgspec.ValidationError as exc:
                problems.append(Problem(f"{where}.{name}", str(exc)))
        if item.known_at.utcoffset() is None:
            problems.append(Problem(f"{where}.known_at", "must include a timezone"))
    return problems


async def record_labels(
    connection: AsyncConnection,
    items: Sequence[NewLabel],
    *,
    by: str,
    now: datetime,
    raise_to_event_time: bool = False,
) -> list[LabelOutcome]:
    """Record ``items`` on ``connection`` (inside the caller's transaction); one outcome per item.

    ``raise_to_event_time`` takes a ``known_at`` earlier than the transaction's event time as
    the event time (an analyst's label, timed by our clock, of a transaction timed by the client's
    clock a little ahead) instead of refusing the item.
    """
    problems = label_problems(items, by=by)
    if problems:
        raise InvalidInputError("invalid labels", problems)
    entities = await _entities(connection, {item.transaction_id for item in items})
    outcomes: list[LabelOutcome] = []
    for item in items:
        row = entities.get(item.transaction_id)
        if row is None:
            outcomes.append(
                LabelOutcome(
                    item,
                    LabelStatus.UNKNOWN_TRANSACTION,
                    detail=f"no transaction {item.transaction_id!r} is stored",
                )
            )
            continue
        event_time: datetime = row["timestamp"]
        stored = item
        if item.known_at < event_time:
            if not raise_to_event_time:
                outcomes.append(
                    LabelOutcome(
                        item,
                        LabelStatus.KNOWN_BEFORE_TRANSACTION,
                        known=_known(item, row),
                        detail=(
                            f"known_at {item.known_at.isoformat()} is before the transaction's "
                            f"event time {event_time.isoformat()}"
                        ),
                    )
                )
                continue
            stored = replace(item, known_at=event_time)
        # ``recorded`` until the insert says the same event was stored before
        outcomes.append(LabelOutcome(stored, LabelStatus.RECORDED, known=_known(stored, row)))
    to_store = [o.item for o in outcomes if o.status is LabelStatus.RECORDED]
    inserted = await _insert(connection, to_store, by=by, now=now)
    known_ids = {o.item.transaction_id for o in outcomes if o.known is not None}
    current = await current_labels(connection, known_ids)
    result: list[LabelOutcome] = []
    for outcome in outcomes:
        status = outcome.status
        if status is LabelStatus.RECORDED:
            if outcome.item.key() in inserted:
                inserted.discard(outcome.item.key())  # an identical later item is unchanged
            else:
                status = LabelStatus.UNCHANGED
        latest = current.get(outcome.item.transaction_id)
        result.append(
            replace(outcome, status=status, current=latest.label if latest is not None else None)
        )
    return result


async def current_labels(
    connection: AsyncConnection, transaction_ids: Iterable[str], *, cutoff: datetime | None = None
) -> dict[str, KnownLabel]:
    """Each labelled transaction's current label (as known at ``cutoff``, if given)."""
    ids = sorted(set(transaction_ids))
    found: dict[str, KnownLabel] = {}
    for start in range(0, len(ids), MAX_LABELS_PER_STATEMENT):
        chunk = ids[start : start + MAX_LABELS_PER_STATEMENT]
        query = _latest(cutoff).where(_labels.c.transaction_id == any_(_ids_parameter(chunk)))
        for row in (await connection.execute(query)).mappings():
            found[row["transaction_id"]] = _known_row(row)
    return found


class LabelStore:
    """Label events in PostgreSQL: record batches, read current labels, history and cut-offs."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    async def record(self, items: Sequence[NewLabel], *, by: str) -> list[LabelOutcome]:
        """Record ``items`` in one transaction, recorded by ``by``; one outcome per item, in order.

        :class:`InvalidInputError` (nothing stored) when an item is malformed: naive ``known_at``,
        a bad id or source name.
        """
        async with self._engine.begin() as connection:
            return await record_labels(connection, items, by=by, now=self._clock.now())

    async def current(self, transaction_ids: Iterable[str]) -> dict[str, KnownLabel]:
        """The current label of each of ``transaction_ids`` that has one."""
        async with self._engine.connect() as connection:
            return await current_labels(connection, transaction_ids)

    async def history(self, transaction_id: str) -> list[LabelEvent]:
        """Every label event of ``transaction_id``, oldest known first (the last one wins)."""
        query = (
            select(_labels.c.id, _labels.c.recorded_at, _labels.c.recorded_by, *_columns())
            .join(_transactions, _transactions.c.transaction_id == _labels.c.transaction_id)
            .where(_labels.c.transaction_id == transaction_id)
            .order_by(_labels.c.known_at, _labels.c.recorded_at, _labels.c.id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            LabelEvent(
                id=row["id"],
                known=_known_row(row),
                recorded_at=row["recorded_at"],
                recorded_by=row["recorded_by"],
            )
            for row in rows
        ]

    async def labels_known_by(self, cutoff: datetime) -> list[KnownLabel]:
        """Every labelled transaction's label as it stood at ``cutoff`` (events known by then),
        ordered by the transactions' event time; for training without looking ahead."""
        if cutoff.utcoffset() is None:
            raise InvalidInputError(
                "invalid label cutoff", [Problem("cutoff", "must include a timezone")]
            )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_latest(cutoff))).mappings().all()
        labels = [_known_row(row) for row in rows]
        return sorted(labels, key=lambda known: (known.event_time, known.transaction_id))


async def _entities(connection: AsyncConnection, ids: set[str]) -> dict[str, RowMapping]:
    ordered = sorted(ids)
    found: dict[str, RowMapping] = {}
    for start in range(0, len(ordered), MAX_LABELS_PER_STATEMENT):
        chunk = ordered[start : start + MAX_LABELS_PER_STATEMENT]
        query = select(*_ENTITY_COLUMNS).where(
            _transactions.c.transaction_id == any_(_ids_parameter(chunk))
        )
        for row in (await connection.execute(query)).mappings():
            found[row["transaction_id"]] = row
    return found


async def _insert(
    connection: AsyncConnection, items: Sequence[NewLabel], *, by: str, now: datetime
) -> set[_Key]:
    """Insert ``items`` in order, skipping stored events; the keys of the rows inserted."""
    inserted: set[_Key] = set()
    for start in range(0, len(items), MAX_LABELS_PER_STATEMENT):
        chunk = items[start : start + MAX_LABELS_PER_STATEMENT]
        parameters: dict[str, Any] = {
            "recorded_at": now,
            "recorded_by": by,
            "transaction_ids": [item.transaction_id for item in chunk],
            "labels": [item.label.value for item in chunk],
            "known_ats": [item.known_at for item in chunk],
            "sources": [item.source for item in chunk],
        }
        rows = await connection.execute(_INSERT, parameters)
        inserted.update((r.transaction_id, r.label, r.known_at, r.source) for r in rows)
    return inserted


def _ids_parameter(ids: list[str]) -> Any:
    return bindparam("ids", ids, type_=ARRAY(String()))


def _columns() -> tuple[Any, ...]:
    return (*_ENTITY_COLUMNS, *_LABEL_COLUMNS)


def _latest(cutoff: datetime | None) -> Select[Any]:
    """Each transaction's latest label event (known by ``cutoff``), with its entities."""
    query = (
        select(*_columns())
        .join(_transactions, _transactions.c.transaction_id == _labels.c.transaction_id)
        .ext(distinct_on(_labels.c.transaction_id))
        .order_by(*_BY_LATEST)
    )
    return query if cutoff is None else query.where(_labels.c.known_at <= cutoff)


def _known(item: NewLabel, row: RowMapping) -> KnownLabel:
    return KnownLabel(
        transaction_id=item.transaction_id,
        label=item.label,
        known_at=item.known_at,
        source=item.source,
        account_id=row["account_id"],
        merchant_id=row["merchant_id"],
        device_id=row["device_id"],
        ip_address=row["ip_address"],
        event_time=row["timestamp"],
    )


def _known_row(row: RowMapping) -> KnownLabel:
    item = NewLabel(
        transaction_id=row["transaction_id"],
        label=AlertLabel(row["label"]),
        known_at=row["known_at"],
        source=row["source"],
    )
    return _known(item, row)
