"""The batched insert statements derived from the table definitions."""

from __future__ import annotations

from collections.abc import Callable

from core.models import Outcome
from core.records import DecisionRecord
from storage.persist import ALERTS, DECISIONS, TRANSACTIONS
from storage.rows import alert_row, decision_row, transaction_row

MakeRecord = Callable[..., DecisionRecord]


def test_every_statement_skips_rows_already_stored() -> None:
    """Inserts are idempotent: conflicts are skipped, never errors or updates."""
    for insert in (TRANSACTIONS, DECISIONS, ALERTS):
        assert str(insert.statement).endswith("ON CONFLICT DO NOTHING")


def test_alert_insert_leaves_investigation_fields_alone() -> None:
    """The writer never sets labels or notes (a replay cannot undo an investigator's work)."""
    columns = str(ALERTS.statement).split(" SELECT ")[0]
    for column in ("id", "label", "note", "labelled_by", "labelled_at"):
        assert f'"{column}"' not in columns
    assert '"status"' in columns


def test_parameters_are_one_array_per_column(make_record: MakeRecord) -> None:
    """A batch of n rows becomes one list of n values per column."""
    rows = [transaction_row(make_record(i)) for i in range(3)]
    params = TRANSACTIONS.parameters(rows)
    assert params["transaction_id"] == ["t0", "t1", "t2"]
    assert len(params) == len(TRANSACTIONS.table.columns)


def test_json_columns_travel_as_json_text(make_record: MakeRecord) -> None:
    """JSONB and array columns are sent as JSON text and cast in SQL."""
    record = make_record(1, Outcome.BLOCK)
    decision = DECISIONS.parameters([decision_row(record.decision)])
    alert_data = alert_row(record)
    assert alert_data is not None
    alert = ALERTS.parameters([alert_data])
    assert decision["latency_ms"] == ['{"total":4.2}']
    assert alert["rule_hits"] == ['["r_block"]']
    assert "::jsonb" in str(DECISIONS.statement)
