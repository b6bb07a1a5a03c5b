"""When each row's label became known, and which labels a model trained at a cutoff may use.

Fraud labels arrive late: a chargeback or a customer complaint comes days or weeks after the
transaction. A dataset may say when with the optional ``label_known_at`` column; a row without
it (or a dataset without the column) is taken to be known ``label_delay`` after its event time.
A model trained at time ``cutoff`` (the end of its train block) learns only from the rows whose
label was known by then (``label_known_at <= cutoff``); the other train rows are still history
for the features, but not training examples.

Pure functions: the caller picks the delay and the cutoff.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.durations import DURATION_UNITS_MS, MAX_DURATION_MS
from training.schema import LABEL_KNOWN_AT_COLUMN
from training.split import TIMESTAMP, utc_times

BoolArray = NDArray[np.bool_]
TimeArray = NDArray[np.datetime64]

_DELAY = re.compile(r"^(0|[1-9][0-9]{0,5})([smhd]?)$")
DELAY_GRAMMAR: Final = (
    "a label delay is <count><unit> with unit s, m, h or d (e.g. 0, 36h, 7d, 30d), at most 366d"
)


def parse_label_delay(text: str) -> timedelta:
    """``"7d"`` → 7 days, ``"36h"``, ``"0"``; :class:`ValueError` naming the grammar otherwise.

    A unit is required unless the count is 0.
    """
    match = _DELAY.fullmatch(text.strip())
    if match is None or (match.group(2) == "" and match.group(1) != "0"):
        raise ValueError(f"{text!r} is not a label delay: {DELAY_GRAMMAR}")
    milliseconds = int(match.group(1)) * DURATION_UNITS_MS.get(match.group(2), 0)
    if milliseconds > MAX_DURATION_MS:
        raise ValueError(f"{text!r} is longer than the longest allowed label delay, 366d")
    return timedelta(milliseconds=milliseconds)


def label_known_times(dataset: pd.DataFrame, delay: timedelta) -> TimeArray:
    """When each row's label became known, as naive UTC ``datetime64[us]``.

    ``label_known_at`` where the dataset gives it; event time + ``delay`` elsewhere.
    """
    if delay < timedelta(0):
        raise ValueError(f"the label delay must not be negative, got {delay}")
    times = utc_times(dataset[TIMESTAMP])
    known = times + np.timedelta64(delay // timedelta(microseconds=1), "us")
    if LABEL_KNOWN_AT_COLUMN in dataset.columns:
        given = dataset[LABEL_KNOWN_AT_COLUMN]
        present = given.notna().to_numpy()
        if present.any():
            stated = pd.DatetimeIndex(given[present]).tz_convert("UTC").tz_localize(None)
            known[present] = stated.to_numpy().astype("datetime64[us]")
    return np.asarray(known, dtype="datetime64[us]")


def labels_known_by(known_at: TimeArray, cutoff: datetime) -> BoolArray:
    """Whether each label was known at ``cutoff`` (``known_at <= cutoff``)."""
    if cutoff.tzinfo is None:
        raise ValueError(f"cutoff {cutoff.isoformat()} has no timezone")
    limit = np.datetime64(pd.Timestamp(cutoff).tz_convert("UTC").tz_localize(None), "us")
    return np.asarray(known_at <= limit, dtype=np.bool_)
