"""Label-aware features offline: known fraud counts only once it was known, point in time."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInputError
from features.definitions import FeatureSet, FeatureSpec, Stat
from features.offline import compute_features
from features.reference import reference_features

MINUTE = 60_000
START = pd.Timestamp("2024-01-01T00:00:00Z")


def _spec(stat: Stat, window: str = "10m", **kw: Any) -> FeatureSpec:
    return FeatureSpec(entity=kw.pop("entity", "merchant_id"), stat=stat, window=window, **kw)


def _labelled(frame: pd.DataFrame, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``frame`` with ``label`` (row key ``fraud``) and ``label_known_at`` (``known`` ms from
    START, missing when absent) columns."""
    known = [
        START + pd.Timedelta(milliseconds=row["known"]) if row.get("known") is not None else pd.NaT
        for row in rows
    ]
    return frame.assign(
        label=pd.Series([int(row.get("fraud", False)) for row in rows], dtype="int8"),
        label_known_at=pd.to_datetime(pd.Series(known, dtype="datetime64[us, UTC]"), utc=True),
    )


def _compute(frame: pd.DataFrame, *specs: FeatureSpec) -> pd.DataFrame:
    feature_set = FeatureSet(windowed=specs)
    result = compute_features(frame, feature_set)
    pd.testing.assert_frame_equal(result, reference_features(frame, feature_set), check_exact=True)
    return result


def _column(result: pd.DataFrame, spec: FeatureSpec) -> list[float]:
    return [float(v) for v in result[spec.name]]


def _same(actual: list[float], expected: list[float]) -> bool:
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual, expected, strict=True)
    )


def test_a_fraud_counts_from_when_it_was_known(make_frame: Any) -> None:
    """An earlier fraud of the merchant counts for rows at or after its known-at, never before,
    and a row's own label never counts for itself."""
    rows = [
        {"ms": 0, "fraud": True, "known": 3 * MINUTE},
        {"ms": MINUTE},
        {"ms": 3 * MINUTE - 1},
        {"ms": 3 * MINUTE, "fraud": True, "known": 3 * MINUTE},
        {"ms": 4 * MINUTE},
    ]
    count = _spec(Stat.FRAUD_COUNT)
    result = _compute(_labelled(make_frame(rows), rows), count)
    assert _column(result, count) == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_label_delay_postpones_a_known_label(make_frame: Any) -> None:
    """With label_delay 2m a fraud known at k counts from k + 2m; a row without label_known_at
    is known at its event time."""
    rows = [
        {"ms": 0, "fraud": True},
        {"ms": MINUTE, "fraud": True, "known": 2 * MINUTE},
        {"ms": 2 * MINUTE - 1},
        {"ms": 2 * MINUTE},
        {"ms": 4 * MINUTE},
    ]
    delayed = _spec(Stat.FRAUD_COUNT, label_delay="2m")
    result = _compute(_labelled(make_frame(rows), rows), delayed)
    assert _column(result, delayed) == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_only_frauds_whose_transaction_is_in_the_window_count(make_frame: Any) -> None:
    """The window is over the labelled transactions' event times: (t - lag - w, t - lag]."""
    rows = [
        {"ms": 0, "fraud": True},
        {"ms": 5 * MINUTE, "fraud": True},
        {"ms": 10 * MINUTE},
        {"ms": 15 * MINUTE},
    ]
    frame = _labelled(make_frame(rows), rows)
    recent, lagged = _spec(Stat.FRAUD_COUNT), _spec(Stat.FRAUD_COUNT, "5m", lag="10m")
    result = _compute(frame, recent, lagged)
    assert _column(result, recent) == [0.0, 1.0, 1.0, 0.0]
    assert _column(result, lagged) == [0.0, 0.0, 1.0, 1.0]


def test_fraud_share_divides_by_the_previous_rows_of_the_window(make_frame: Any) -> None:
    """fraud_share = known fraud / earlier rows of the entity in the window; NaN with none."""
    rows: list[dict[str, Any]] = [
        {"ms": 0, "fraud": True},
        {"ms": MINUTE},
        {"ms": 2 * MINUTE, "merchant_id": "m2"},
        {"ms": 3 * MINUTE},
        {"ms": 4 * MINUTE},
    ]
    share = _spec(Stat.FRAUD_SHARE)
    result = _compute(_labelled(make_frame(rows), rows), share)
    assert _same(_column(result, share), [math.nan, 1.0, math.nan, 0.5, 1 / 3])


def test_other_entities_and_null_values(make_frame: Any) -> None:
    """Each entity counts its own frauds; a null entity value gives NaN."""
    rows: list[dict[str, Any]] = [
        {"ms": 0, "fraud": True, "device_id": "d1"},
        {"ms": 1, "device_id": "d2"},
        {"ms": 2, "device_id": None},
        {"ms": 3, "device_id": "d1", "account_id": "b"},
    ]
    by_device = _spec(Stat.FRAUD_COUNT, entity="device_id")
    by_account = _spec(Stat.FRAUD_COUNT, entity="account_id")
    result = _compute(_labelled(make_frame(rows), rows), by_device, by_account)
    assert _same(_column(result, by_device), [0.0, 0.0, math.nan, 1.0])
    assert _column(result, by_account) == [0.0, 1.0, 1.0, 0.0]


def test_equal_timestamps_count_only_earlier_arrivals(make_frame: Any) -> None:
    """Of rows at one millisecond, a fraud known then counts for the rows after it only."""
    rows = [{"ms": 0}, {"ms": 0, "fraud": True}, {"ms": 0}]
    count = _spec(Stat.FRAUD_COUNT)
    result = _compute(_labelled(make_frame(rows), rows), count)
    assert _column(result, count) == [0.0, 0.0, 1.0]


def test_a_frame_without_labels_knows_no_fraud(make_frame: Any) -> None:
    """No `label` column: every count is 0 and every share 0 (or NaN for an empty window)."""
    frame = make_frame([{"ms": 0}, {"ms": 1}])
    count, share = _spec(Stat.FRAUD_COUNT), _spec(Stat.FRAUD_SHARE)
    result = _compute(frame, count, share)
    assert _column(result, count) == [0.0, 0.0]
    assert _same(_column(result, share), [math.nan, 0.0])


def test_missing_labels_are_not_fraud(make_frame: Any) -> None:
    """A float label column with NaN (unlabelled rows) counts only its 1s."""
    rows = [{"ms": 0}, {"ms": 1}, {"ms": 2}]
    frame = make_frame(rows).assign(label=[1.0, math.nan, 0.0])
    count = _spec(Stat.FRAUD_COUNT)
    assert _column(_compute(frame, count), count) == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("change", "location"),
    [
        (lambda f: f.assign(label=[1, 2]), "row 1, column label"),
        (lambda f: f.assign(label=["1", "yes"]), "row 1, column label"),
        (
            lambda f: f.assign(label=[1, 0], label_known_at=f["timestamp"].dt.tz_localize(None)),
            "column label_known_at",
        ),
    ],
)
def test_unusable_labels_are_rejected_with_their_location(
    make_frame: Any, change: Any, location: str
) -> None:
    """Labels other than 0/1 and naive known-at times raise InvalidInputError naming where."""
    frame = change(make_frame([{"ms": 0}, {"ms": 1}]))
    with pytest.raises(InvalidInputError) as raised:
        compute_features(frame, FeatureSet(windowed=(_spec(Stat.FRAUD_COUNT),)))
    assert location in [problem.location for problem in raised.value.problems]


LABEL_SPECS = FeatureSet(
    windowed=tuple(
        FeatureSpec(entity=entity, stat=stat, window=window, lag=lag, label_delay=delay)
        for entity in ("merchant_id", "device_id")
        for stat in (Stat.FRAUD_COUNT, Stat.FRAUD_SHARE)
        for window, lag, delay in (("1s", None, None), ("3s", None, "1s"), ("2s", "1s", "2s"))
    )
)
"""Both label-aware stats with and without a lag and a label delay, over short windows."""

ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "ms": st.integers(0, 24).map(lambda step: step * 250),
            "merchant_id": st.sampled_from(["m1", "m2"]),
            "device_id": st.sampled_from(["d1", "d2", None]),
            "fraud": st.booleans(),
            "wait": st.one_of(st.none(), st.integers(0, 12).map(lambda step: step * 250)),
        }
    ),
    max_size=30,
)


def _frame_of(make_frame: Any, rows: list[dict[str, Any]]) -> pd.DataFrame:
    known = [
        {**row, "known": None if row["wait"] is None else row["ms"] + row["wait"]} for row in rows
    ]
    return _labelled(make_frame(rows), known)


@settings(deadline=None, max_examples=150)
@given(rows=ROWS)
def test_offline_equals_reference_with_labels(make_frame: Any, rows: list[dict[str, Any]]) -> None:
    """Bit for bit, with ties, nulls, lags, delays and labels known later or at once."""
    frame = _frame_of(make_frame, rows)
    pd.testing.assert_frame_equal(
        compute_features(frame, LABEL_SPECS),
        reference_features(frame, LABEL_SPECS),
        check_exact=True,
    )


@settings(deadline=None, max_examples=100)
@given(rows=ROWS, later=ROWS)
def test_later_rows_and_their_labels_never_change_earlier_features(
    make_frame: Any, rows: list[dict[str, Any]], later: list[dict[str, Any]]
) -> None:
    """Rows appended at or after every existing one, labelled or not, leave earlier rows alone."""
    last = max((row["ms"] for row in rows), default=0)
    appended = [{**row, "ms": last + row["ms"]} for row in later]
    before = compute_features(_frame_of(make_frame, rows), LABEL_SPECS)
    after = compute_features(_frame_of(make_frame, [*rows, *appended]), LABEL_SPECS)
    pd.testing.assert_frame_equal(after.iloc[: len(rows)], before, check_exact=True)
