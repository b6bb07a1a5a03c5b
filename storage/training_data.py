"""Stored transactions with their labels, streamed in column chunks for training.

``vigil train --from-db`` learns from what the engine stored: every row of ``transactions`` (the
writer's copy of each decided transaction), joined with the transaction's label from ``labels``,
the one source of truth for known outcomes (an analyst's verdict on an alert is written there too,
in the same database transaction; ``docs/labels.md``). Nothing is read from ``decisions``: the
features a transaction got at decision time were computed with the spec of that day, and training
recomputes them offline with today's.

**Which label.** A transaction's label is its current one by the rule of :mod:`storage.labels`
(greatest ``known_at``, then the latest recorded). With ``labels_known_by`` (the end of a train
block), only events known by then are looked at, so a later correction is not seen; a
transaction with no event by then gets its current label, known after the cutoff (training counts
it as not yet labelled, evaluation of later blocks uses it). Its ``label_known_at`` is when the
current verdict became known: the ``known_at`` of the first event of the run of equal labels that
ends with the current one, as in the online store (a chargeback confirming an analyst's fraud
verdict does not postpone it). A transaction without any label event has ``label`` ``None``.

**Shape.** Rows come in event-time order (ties by ``transaction_id``, so reading twice gives the
same order), from a server-side cursor, ``chunk_rows`` at a time, as columns
(:data:`STORED_COLUMNS` → a list per column): turning them into a DataFrame is training's job.
Times travel as integer microseconds since the Unix epoch (UTC), amounts as ``float`` (the
nearest double of the stored 4-decimal value, as a dataset file holds it), ``attributes`` as JSON
text (``None`` when empty).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import InvalidInputError, Problem

STORED_COLUMNS: Final = (
    "transaction_id",
    "account_id",
    "amount",
    "currency",
    "timestamp_us",
    "merchant_id",
    "merchant_category",
    "country",
    "channel",
    "device_id",
    "ip_address",
    "attributes",
    "label",
    "label_known_at_us",
    "label_source",
)
"""The columns of every chunk, in order: the Transaction fields (``timestamp`` as
``timestamp_us``), then the label (``fraud``, ``legit`` or ``None``), when it became known
(``label_known_at_us``) and the source of its current event."""
DEFAULT_CHUNK_ROWS: Final = 50_000

Chunk = dict[str, list[Any]]

_LATEST_FIRST: Final = "known_at DESC, recorded_at DESC, id DESC"
"""A transaction's label events, current first (the rule of :mod:`storage.labels`)."""
_MICROS = "CAST(floor(extract(epoch FROM {column}) * 1000000) AS BIGINT)"


def _labels_query(*, cutoff: bool) -> str:
    """CTEs ending in ``current_labels``: each labelled transaction's current label, when it
    became known, and its source (with ``cutoff``: as known at ``:cutoff``, see the module doc)."""
    seen = (
        "visible AS (SELECT *, bool_or(known_at <= CAST(:cutoff AS TIMESTAMPTZ)) "
        "OVER (PARTITION BY transaction_id) AS any_by_cutoff FROM labels), "
        "seen AS (SELECT * FROM visible "
        "WHERE NOT any_by_cutoff OR known_at <= CAST(:cutoff AS TIMESTAMPTZ))"
        if cutoff
        else "seen AS (SELECT * FROM labels)"
    )
    return (
        f"{seen}, "  # noqa: S608 - constant fragments only; values are bind parameters
        "ranked AS (SELECT transaction_id, label, known_at, "
        "first_value(label) OVER latest AS current_label, "
        "first_value(source) OVER latest AS current_source, "
        "row_number() OVER latest AS position FROM seen "
        f"WINDOW latest AS (PARTITION BY transaction_id ORDER BY {_LATEST_FIRST})), "
        # a run of equal labels ends at the first older event with another label
        "runs AS (SELECT *, bool_or(label <> current_label) OVER (PARTITION BY transaction_id "
        "ORDER BY position ROWS UNBOUNDED PRECEDING) AS broken FROM ranked), "
        "current_labels AS (SELECT transaction_id, min(current_label) AS label, "
        "min(current_source) AS source, min(known_at) AS known_at "
        "FROM runs WHERE NOT broken GROUP BY transaction_id)"
    )


def stored_transactions_query(
    *, labels_known_by: datetime | None, since: datetime | None, until: datetime | None
) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters :func:`stream_labelled_transactions` runs."""
    given = {"labels_known_by": labels_known_by, "since": since, "until": until}
    problems = [
        Problem(name, "must include a timezone")
        for name, value in given.items()
        if value is not None and value.utcoffset() is None
    ]
    if problems:
        raise InvalidInputError("invalid training data query", problems)
    parameters: dict[str, Any] = {}
    if labels_known_by is not None:
        parameters["cutoff"] = labels_known_by
    where = []
    if since is not None:
        where.append('t."timestamp" >= CAST(:since AS TIMESTAMPTZ)')
        parameters["since"] = since
    if until is not None:
        where.append('t."timestamp" < CAST(:until AS TIMESTAMPTZ)')
        parameters["until"] = until
    event_us = _MICROS.format(column='t."timestamp"')
    known_us = _MICROS.format(column="c.known_at")
    sql = (
        f"WITH {_labels_query(cutoff=labels_known_by is not None)} "  # noqa: S608 - as above
        "SELECT t.transaction_id, t.account_id, CAST(t.amount AS DOUBLE PRECISION), t.currency, "
        f"{event_us}, t.merchant_id, t.merchant_category, t.country, t.channel, t.device_id, "
        "t.ip_address, CAST(NULLIF(t.attributes, CAST('{}' AS JSONB)) AS TEXT), "
        f"c.label, {known_us}, c.source "
        "FROM transactions AS t LEFT JOIN current_labels AS c USING (transaction_id)"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + ' ORDER BY t."timestamp", t.transaction_id'
    )
    return sql, parameters


async def stream_labelled_transactions(
    engine: AsyncEngine,
    *,
    labels_known_by: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> AsyncIterator[Chunk]:
    """Every stored transaction (event time in ``[since, until)`` when given) with its label, in
    chunks of at most ``chunk_rows`` rows (see the module doc for which label)."""
    if chunk_rows < 1:
        raise InvalidInputError(
            "invalid chunk size", [Problem("chunk_rows", f"must be 1 or more, got {chunk_rows}")]
        )
    sql, parameters = stored_transactions_query(
        labels_known_by=labels_known_by, since=since, until=until
    )
    async with engine.connect() as connection:
        result = await connection.stream(text(sql), parameters)
        async for rows in result.partitions(chunk_rows):
            columns = list(zip(*rows, strict=True))
            yield {name: list(values) for name, values in zip(STORED_COLUMNS, columns, strict=True)}
