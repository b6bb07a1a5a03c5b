"""Turn stored transactions and their labels into a training dataset.

``vigil train --from-db`` reads chunks of columns from PostgreSQL
(:func:`storage.training_data.stream_labelled_transactions`; the CLI joins the two packages) and
:func:`dataset_from_stored` builds the frame :func:`training.dataset.read_dataset` would have
returned for the same rows: the Transaction columns with their canonical dtypes, in stable
event-time order, plus ``label``, ``scenario`` and ``label_known_at``.

A stored label ``fraud`` is label 1 with ``scenario`` = the source of its current event
(``chargeback``, ``analyst``, ...: the database knows who said so, not which fraud pattern it
was); ``legit`` is label 0. A transaction **without a label** is taken as legitimate, known at
its event time + the training run's ``--label-delay`` (its ``label_known_at`` is left empty, see
:mod:`training.labels`): in fraud practice what nobody reported once the reporting window has
passed is legitimate, and the label delay is that window. Train rows younger than the delay at
the end of the train block are then not trained on, exactly like file rows without a
``label_known_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from core.alerts import AlertLabel
from core.errors import DataImportError, InvalidInputError, Problem
from training.dataset import PROBLEM_LIMIT, complete_columns, validate_dataset
from training.schema import (
    AMOUNT_DTYPE,
    LABEL_COLUMN,
    LABEL_DTYPE,
    LABEL_KNOWN_AT_COLUMN,
    LEGIT_SCENARIO,
    SCENARIO_COLUMN,
    STRING_DTYPE,
    TIMESTAMP_DTYPE,
    TRANSACTION_COLUMNS,
)
from training.windows import TimeWindows

STRING_COLUMNS: Final = tuple(c for c in TRANSACTION_COLUMNS if c not in ("amount", "timestamp"))
"""Transaction columns held as text (ids, codes, channel, device, IP, attributes JSON)."""
EXPECTED_COLUMNS: Final = (
    *STRING_COLUMNS,
    "amount",
    "timestamp_us",
    "label",
    "label_known_at_us",
    "label_source",
)
"""The stored columns :func:`dataset_from_stored` needs (any order)."""


def dataset_from_stored(chunks: Iterable[Mapping[str, Sequence[Any]]]) -> pd.DataFrame:
    """One labelled dataset from chunks of stored columns (see :func:`combine_chunk_frames`)."""
    return combine_chunk_frames([chunk_frame(chunk) for chunk in chunks])


def combine_chunk_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The :func:`chunk_frame` s as one checked dataset in stable event-time order; empty (with
    every column) when there are none.

    Raises :class:`DataImportError` when a stored row breaks a dataset rule (it should not: the
    gateway validated it).
    """
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else chunk_frame({name: [] for name in EXPECTED_COLUMNS})
    )
    problems = validate_dataset(frame)
    if problems:
        raise DataImportError(
            f"the stored transactions are not a valid dataset: {len(problems)} problems",
            problems[:PROBLEM_LIMIT],
        )
    ordered = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    return complete_columns(ordered)


def chunk_frame(chunk: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """One chunk of stored columns (:data:`EXPECTED_COLUMNS`) in the dataset's columns and dtypes;
    :class:`InvalidInputError` when a column is missing."""
    missing = [name for name in EXPECTED_COLUMNS if name not in chunk]
    if missing:
        raise InvalidInputError(
            "the stored rows cannot be read as a dataset",
            [Problem(f"column {name}", "is missing") for name in missing],
        )
    columns: dict[str, pd.Series] = {
        name: pd.Series(chunk[name], dtype=STRING_DTYPE) for name in STRING_COLUMNS
    }
    columns["amount"] = pd.Series(chunk["amount"], dtype=AMOUNT_DTYPE)
    columns["timestamp"] = _utc_micros(chunk["timestamp_us"])
    label = pd.Series(chunk["label"], dtype=object)
    fraud = (label == AlertLabel.FRAUD.value).to_numpy(dtype=bool)
    columns[LABEL_COLUMN] = pd.Series(fraud.astype(LABEL_DTYPE))
    source = pd.Series(chunk["label_source"], dtype=object).to_numpy(dtype=object)
    columns[SCENARIO_COLUMN] = pd.Series(
        np.where(fraud, source, LEGIT_SCENARIO), dtype=STRING_DTYPE
    )
    columns[LABEL_KNOWN_AT_COLUMN] = _utc_micros(chunk["label_known_at_us"])
    order = [*TRANSACTION_COLUMNS, LABEL_COLUMN, SCENARIO_COLUMN, LABEL_KNOWN_AT_COLUMN]
    return pd.DataFrame(columns)[order]


def _utc_micros(values: Sequence[int | None]) -> pd.Series:
    """Microseconds since the epoch (``None`` = missing) as UTC times."""
    micros = pd.array(list(values), dtype="Int64")
    as_int = micros.to_numpy(dtype=np.int64, na_value=0)
    times = as_int.astype("datetime64[us]")
    times[micros.isna()] = np.datetime64("NaT")
    return pd.Series(times).dt.tz_localize("UTC").astype(TIMESTAMP_DTYPE)


def check_trainable(dataset: pd.DataFrame, *, where: str, windows: TimeWindows | None) -> None:
    """Refuse stored data a model cannot be trained on, saying what is missing.

    No transactions; no transaction labelled fraud; with ``windows``, no fraud in the train block
    whose label was known by its end. (A split that leaves fit or validation without fraud is
    refused by :func:`training.train.fit`, naming the block.)
    """
    how = (
        "record known outcomes with `vigil labels import FILE`, `POST /v1/labels` or by "
        "labelling alerts in the web app"
    )
    if dataset.empty:
        raise InvalidInputError(
            f"no transactions are stored in {where}: nothing to train on (the engine stores each "
            "transaction it decides; score traffic first, or train from a file with --data)"
        )
    fraud = (dataset[LABEL_COLUMN] == 1).to_numpy(dtype=bool)
    if not fraud.any():
        raise InvalidInputError(
            f"no stored transaction is labelled fraud in {where} ({len(dataset):,} "
            f"transactions): training needs known frauds; {how}"
        )
    if windows is None:
        return
    times = dataset["timestamp"]
    train = ((times >= windows.train_start) & (times < windows.train_end)).to_numpy(dtype=bool)
    known = (dataset[LABEL_KNOWN_AT_COLUMN] <= windows.train_end).to_numpy(dtype=bool)
    if not (fraud & train & known).any():
        later = int(np.count_nonzero(fraud & train))
        raise InvalidInputError(
            "no labelled fraud in the train block",
            [
                Problem(
                    "--train-start/--train-end",
                    f"no transaction in [{windows.train_start.isoformat()}, "
                    f"{windows.train_end.isoformat()}) has a fraud label known by the end of the "
                    f"block ({later} labelled fraud later; {int(fraud.sum()):,} fraud labels "
                    f"stored in all): {how}, or move the train block",
                )
            ],
        )
