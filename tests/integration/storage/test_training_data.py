"""Stored transactions + labels read back for training: the dataset a file would give, with
each label as it stood at the cutoff and known from when its verdict was first given."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel
from storage.labels import LabelStore, NewLabel
from storage.persist import insert_records
from storage.training_data import stream_labelled_transactions
from tests.integration.storage.stored_rows import MakeRecord, store_frame
from training.dataset import read_dataset, write_dataset
from training.generate import generate_dataset
from training.labels import label_known_times, labels_known_by
from training.stored import chunk_frame, combine_chunk_frames

FRAUD, LEGIT = AlertLabel.FRAUD, AlertLabel.LEGIT
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # make_record's first event time


def day(n: int) -> datetime:
    """Midnight UTC of January ``n``, 2026."""
    return datetime(2026, 1, n, tzinfo=UTC)


async def read_stored(engine: AsyncEngine, **options: object) -> pd.DataFrame:
    """The stored rows as a dataset, read in small chunks."""
    frames = [
        chunk_frame(chunk)
        async for chunk in stream_labelled_transactions(engine, chunk_rows=700, **options)  # type: ignore[arg-type]
    ]
    return combine_chunk_frames(frames)


async def test_stored_rows_read_back_as_the_dataset_file_would(
    db_engine: AsyncEngine, make_record: MakeRecord, tmp_path: object
) -> None:
    """Generated rows stored through the writer's insert and labelled (frauds by their scenario
    as the source) read back with read_dataset's columns, dtypes, order and values."""
    generated = generate_dataset(accounts=40, days=10, seed=11, fraud_rate=0.05)
    await store_frame(db_engine, generated, make_record)
    frauds = generated[generated["label"] == 1]
    known = frauds["timestamp"] + pd.Timedelta(hours=30)
    await LabelStore(db_engine).record(
        [
            NewLabel(tid, FRAUD, when.to_pydatetime(), scenario)
            for tid, when, scenario in zip(
                frauds["transaction_id"], known, frauds["scenario"], strict=True
            )
        ],
        by="test",
    )

    stored = await read_stored(db_engine)

    expected = generated.assign(
        label_known_at=known.reindex(generated.index).astype("datetime64[us, UTC]")
    )
    path = tmp_path / "expected.parquet"  # type: ignore[operator]
    write_dataset(expected, path)
    from_file = read_dataset(path)
    assert list(stored.columns) == list(from_file.columns)
    assert dict(stored.dtypes) == dict(from_file.dtypes)
    assert len(stored) == len(generated) > 700  # more than one chunk
    compared = [c for c in from_file.columns if c != "attributes"]
    pd.testing.assert_frame_equal(stored[compared], from_file[compared])
    assert _parsed(stored["attributes"]) == _parsed(from_file["attributes"])


def _parsed(attributes: pd.Series) -> list[object]:
    """Each attributes JSON text parsed (PostgreSQL may reorder keys), ``None`` where missing."""
    return [None if pd.isna(text) else json.loads(text) for text in attributes]


@pytest.fixture
async def history(db_engine: AsyncEngine, make_record: MakeRecord) -> AsyncEngine:
    """Transactions t0..t4 on January 1; labels given over the month:

    t0 fraud (analyst, Jan 5), corrected to legit (dispute, Jan 20);
    t1 fraud only from Jan 15 (chargeback);
    t2 fraud by an analyst on Jan 3, confirmed by a chargeback on Jan 8;
    t3 never labelled; t4 legit (analyst, Jan 2).
    """
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(i) for i in range(5)])
    labels = LabelStore(db_engine)
    await labels.record(
        [
            NewLabel("t0", FRAUD, day(5), "analyst"),
            NewLabel("t2", FRAUD, day(3), "analyst"),
            NewLabel("t4", LEGIT, day(2), "analyst"),
        ],
        by="ana",
    )
    await labels.record(
        [
            NewLabel("t0", LEGIT, day(20), "dispute"),
            NewLabel("t1", FRAUD, day(15), "chargeback"),
            NewLabel("t2", FRAUD, day(8), "chargeback"),
        ],
        by="ops",
    )
    return db_engine


def _labels(frame: pd.DataFrame) -> list[tuple[str, int, str, datetime | None]]:
    known = [None if pd.isna(k) else k.to_pydatetime() for k in frame["label_known_at"].tolist()]
    return list(
        zip(
            frame["transaction_id"].tolist(),
            frame["label"].tolist(),
            frame["scenario"].tolist(),
            known,
            strict=True,
        )
    )


async def test_current_labels_known_from_the_first_verdict_of_their_run(
    history: AsyncEngine,
) -> None:
    """Without a cutoff each transaction has its current label; a fraud confirmed later is
    known from the first fraud verdict; unlabelled rows are legit with no known time."""
    frame = await read_stored(history)
    assert _labels(frame) == [
        ("t0", 0, "legit", day(20)),
        ("t1", 1, "chargeback", day(15)),
        ("t2", 1, "chargeback", day(3)),
        ("t3", 0, "legit", None),
        ("t4", 0, "legit", day(2)),
    ]


async def test_labels_as_they_stood_at_the_cutoff(history: AsyncEngine) -> None:
    """With a cutoff, a correction known after it is not seen (t0 is still fraud), a label known
    only after it stays known after it (t1), and training at the cutoff uses only labels known
    by then (label_known_times / labels_known_by, as vigil train does)."""
    cutoff = day(10)
    frame = await read_stored(history, labels_known_by=cutoff)
    assert _labels(frame) == [
        ("t0", 1, "analyst", day(5)),
        ("t1", 1, "chargeback", day(15)),
        ("t2", 1, "chargeback", day(3)),
        ("t3", 0, "legit", None),
        ("t4", 0, "legit", day(2)),
    ]
    usable = labels_known_by(label_known_times(frame, timedelta(days=7)), cutoff)
    assert usable.tolist() == [True, False, True, True, True]
    late = labels_known_by(label_known_times(frame, timedelta(days=12)), cutoff)
    assert late.tolist() == [True, False, True, False, True]  # t3: Jan 1 + 12 days > Jan 10


async def test_a_time_range_selects_rows_by_event_time(history: AsyncEngine) -> None:
    """``since`` (inclusive) and ``until`` (exclusive) select by the transactions' event time."""
    frame = await read_stored(
        history, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)
    )
    assert frame["transaction_id"].tolist() == ["t1", "t2"]


async def test_an_empty_database_gives_an_empty_dataset(db_engine: AsyncEngine) -> None:
    """No stored transactions: no chunks, and an empty frame with every dataset column."""
    chunks: Sequence[object] = [c async for c in stream_labelled_transactions(db_engine)]
    assert chunks == []
    frame = combine_chunk_frames([])
    assert frame.empty
    assert "label_known_at" in frame.columns
    assert np.dtype("int8") == frame["label"].dtype
