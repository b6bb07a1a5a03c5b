"""Batched, idempotent inserts of decision records: one statement per table per batch.

Each table gets ``INSERT INTO t (...) SELECT ... FROM unnest($1::type[], ...) ON CONFLICT DO
NOTHING``: every column travels as one array parameter, so a batch of any size is one round trip
per table with a fixed statement text (prepared once per connection). Rows already stored (same
``transaction_id``, or the same alert) are skipped, which makes replaying a stream entry harmless.
``bench/bench_writer.py`` compares this with one INSERT per record, executemany and COPY.

JSONB columns travel as JSON text and are cast in SQL; the ``alerts.rule_hits`` array travels as a
JSON array for the same reason (``unnest`` cannot take an array of arrays of uneven length).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from sqlalchemy import ARRAY, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from core.records import DecisionRecord
from storage.models import AlertRow, Base, DecisionRow, ShadowScoreRow, TransactionRow
from storage.rows import (
    Row,
    alert_row,
    decision_row,
    shadow_row,
    transaction_row,
    unique_by_transaction,
)

_DIALECT: Final = postgresql.dialect()  # type: ignore[no-untyped-call]


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    encode: Callable[[Any], Any]


class UnnestInsert:
    """``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING`` for one table."""

    def __init__(self, table: Table, *, skip: Sequence[str] = ()) -> None:
        self.table = table
        columns = [c for c in table.columns if c.name not in skip]
        self._columns = [_Column(c.name, self._encoder(c.type)) for c in columns]
        params = ", ".join(f"CAST(:{c.name} AS {self._wire_type(c.type)}[])" for c in columns)
        names = ", ".join(f'"{c.name}"' for c in columns)
        values = ", ".join(self._from_wire(c.name, c.type) for c in columns)
        self.statement: TextClause = text(
            f"INSERT INTO {table.name} ({names}) SELECT {values} "  # noqa: S608 - names come from our own metadata
            f"FROM unnest({params}) AS u({names}) ON CONFLICT DO NOTHING"
        )

    @staticmethod
    def _wire_type(column_type: Any) -> str:
        if isinstance(column_type, JSONB | ARRAY):
            return "TEXT"
        # unsized (VARCHAR, NUMERIC): the insert itself checks lengths and scales, once
        return re.sub(r"\(.*\)", "", str(column_type.compile(dialect=_DIALECT)))

    @staticmethod
    def _from_wire(name: str, column_type: Any) -> str:
        if isinstance(column_type, JSONB):
            return f'u."{name}"::jsonb'
        if isinstance(column_type, ARRAY):
            return f'ARRAY(SELECT jsonb_array_elements_text(u."{name}"::jsonb))'
        return f'u."{name}"'

    @staticmethod
    def _encoder(column_type: Any) -> Callable[[Any], Any]:
        if isinstance(column_type, JSONB | ARRAY):
            return _json_text
        return lambda value: value

    def parameters(self, rows: Sequence[Row]) -> dict[str, list[Any]]:
        """The statement's array parameters for ``rows`` (every row has every column)."""
        return {c.name: [c.encode(row[c.name]) for row in rows] for c in self._columns}

    async def execute(self, connection: AsyncConnection, rows: Sequence[Row]) -> int:
        """Insert ``rows`` that are not there yet; return how many were inserted."""
        if not rows:
            return 0
        result = await connection.execute(self.statement, self.parameters(rows))
        return int(result.rowcount)


_tables = Base.metadata.tables
TRANSACTIONS: Final = UnnestInsert(_tables[TransactionRow.__tablename__])
DECISIONS: Final = UnnestInsert(_tables[DecisionRow.__tablename__])
ALERTS: Final = UnnestInsert(
    _tables[AlertRow.__tablename__],
    skip=("id", "label", "note", "labelled_by", "labelled_at"),  # set later by investigators
)
SHADOW_SCORES: Final = UnnestInsert(_tables[ShadowScoreRow.__tablename__])


@dataclass(frozen=True, slots=True)
class InsertCounts:
    """How many rows a batch added to each table (duplicates are not counted)."""

    transactions: int
    decisions: int
    alerts: int


async def insert_records(
    connection: AsyncConnection, records: Sequence[DecisionRecord]
) -> InsertCounts:
    """Insert ``records`` in the connection's current transaction, skipping stored ones."""
    unique = unique_by_transaction(list(records))
    alerts = [row for record in unique if (row := alert_row(record)) is not None]
    shadows = [row for record in unique if (row := shadow_row(record)) is not None]
    counts = InsertCounts(
        transactions=await TRANSACTIONS.execute(connection, [transaction_row(r) for r in unique]),
        decisions=await DECISIONS.execute(connection, [decision_row(r.decision) for r in unique]),
        alerts=await ALERTS.execute(connection, alerts),
    )
    await SHADOW_SCORES.execute(connection, shadows)
    return counts
