"""Stored columns become the dataset read_dataset gives; what cannot be trained on is named."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from core.errors import InvalidInputError
from training.schema import COLUMN_DTYPES
from training.stored import EXPECTED_COLUMNS, check_trainable, dataset_from_stored
from training.windows import TimeWindows

MICROS = 1_000_000
JAN_1 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * MICROS
DAY = 86_400 * MICROS
WINDOWS = TimeWindows(
    train_start=datetime(2024, 1, 1, tzinfo=UTC),
    train_end=datetime(2024, 1, 10, tzinfo=UTC),
    test_start=datetime(2024, 1, 12, tzinfo=UTC),
    test_end=datetime(2024, 1, 20, tzinfo=UTC),
)


def chunk(
    labels: list[tuple[str | None, int | None, str | None]], first: int = 0
) -> dict[str, list[object]]:
    """One stored row a day from 2024-01-01 per ``(label, known_at_us, source)``, ids from
    ``t<first>``."""
    n = len(labels)
    return {
        "transaction_id": [f"t{first + i}" for i in range(n)],
        "account_id": ["a1"] * n,
        "amount": [12.5] * n,
        "currency": ["EUR"] * n,
        "timestamp_us": [JAN_1 + (first + i) * DAY for i in range(n)],
        "merchant_id": ["m1"] * n,
        "merchant_category": ["0742"] * n,
        "country": ["FR"] * n,
        "channel": ["pos"] * n,
        "device_id": [None] * n,
        "ip_address": ["192.0.2.1"] * n,
        "attributes": ['{"three_ds": true}', *[None] * (n - 1)],
        "label": [label for label, _, _ in labels],
        "label_known_at_us": [known for _, known, _ in labels],
        "label_source": [source for _, _, source in labels],
    }


def test_labels_scenarios_and_dtypes() -> None:
    """fraud → 1 with its source as scenario, legit and unlabelled → 0 'legit' (unlabelled with no
    known time); every column has the canonical dtype, leading zeros kept."""
    frame = dataset_from_stored(
        [
            chunk([("fraud", JAN_1 + DAY, "chargeback"), ("legit", JAN_1 + 2 * DAY, "analyst")]),
            chunk([(None, None, None)], first=2),
        ]
    )
    assert frame["label"].tolist() == [1, 0, 0]
    assert frame["scenario"].tolist() == ["chargeback", "legit", "legit"]
    assert frame["label_known_at"].isna().tolist() == [False, False, True]
    assert frame["label_known_at"].iloc[0] == pd.Timestamp("2024-01-02T00:00Z")
    assert frame["merchant_category"].iloc[0] == "0742"
    names = [str(c) for c in frame.columns]
    assert [str(frame[c].dtype) for c in names] == [COLUMN_DTYPES[c] for c in names]


def test_a_missing_column_is_named() -> None:
    """A chunk without one of the expected columns is refused naming it."""
    broken = chunk([(None, None, None)])
    del broken["label_source"]
    with pytest.raises(InvalidInputError, match="label_source"):
        dataset_from_stored([broken])
    assert "label_source" in EXPECTED_COLUMNS


def test_nothing_stored_is_named() -> None:
    """No rows: the error says nothing is stored, and where."""
    with pytest.raises(InvalidInputError, match="no transactions are stored in db-x"):
        check_trainable(dataset_from_stored([]), where="db-x", windows=None)


def test_no_fraud_in_the_train_block_known_by_its_end_is_named() -> None:
    """Frauds exist, but the one in the train block became known after its end: the error names
    the train window flags and counts the late label."""
    late = int(datetime(2024, 1, 15, tzinfo=UTC).timestamp()) * MICROS
    frame = dataset_from_stored([chunk([("fraud", late, "chargeback"), (None, None, None)])])
    check_trainable(frame, where="db", windows=None)  # fine without windows: fit decides
    with pytest.raises(InvalidInputError) as refused:
        check_trainable(frame, where="db", windows=WINDOWS)
    [problem] = refused.value.problems
    assert problem.location == "--train-start/--train-end"
    assert "1 labelled fraud later" in problem.message
