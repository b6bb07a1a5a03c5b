"""--scores-out: one row per evaluated transaction, as CSV or Parquet by the file's extension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from artifacts.manifest import Thresholds
from artifacts.runtime import ScoreBatch
from core.errors import InvalidInputError
from training.scores_out import check_scores_path, outcomes, scores_frame, write_scores

THRESHOLDS = Thresholds(review=0.3, block=0.8, review_policy="", block_policy="")
COLUMNS = [
    "transaction_id",
    "timestamp",
    "account_id",
    "label",
    "scenario",
    "xgboost",
    "isolation_forest",
    "ensemble",
    "outcome",
]


def _transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t3"],
            "account_id": ["a1", "a2", "a1"],
            "timestamp": pd.to_datetime(
                ["2024-01-01T00:00:00Z", "2024-01-01T12:30:00.5Z", "2024-01-02T00:00:00Z"],
                format="ISO8601",
            ).as_unit("us"),
            "label": np.array([0, 1, 0], dtype=np.int8),
            "scenario": ["legit", "card_testing", "legit"],
        },
        index=[10, 11, 12],  # rows of a larger dataset
    )


def _scores() -> ScoreBatch:
    ensemble = np.array([0.1, 0.9, 0.3])
    return ScoreBatch(
        xgboost=np.array([0.05, 0.95, 0.4]),
        xgboost_margin=np.array([-3.0, 3.0, -0.4]),
        isolation_forest=np.array([0.4, 0.7, 0.5]),
        ensemble=ensemble,
    )


def test_outcome_follows_the_ensemble_thresholds() -> None:
    """Below review: allow; at or above review: review; at or above block: block."""
    risk = np.array([0.0, 0.29, 0.3, 0.79, 0.8, 1.0])
    assert outcomes(risk, THRESHOLDS).tolist() == [
        "allow",
        "allow",
        "review",
        "review",
        "block",
        "block",
    ]


def test_frame_has_ids_times_labels_every_score_and_the_outcome() -> None:
    """The table lists each transaction once, in order, with all model scores."""
    frame = scores_frame(_transactions(), _scores(), THRESHOLDS)
    assert list(frame.columns) == COLUMNS
    assert frame["transaction_id"].tolist() == ["t1", "t2", "t3"]
    assert frame["label"].tolist() == [0, 1, 0]
    assert frame["ensemble"].tolist() == [0.1, 0.9, 0.3]
    assert frame["outcome"].tolist() == ["allow", "block", "review"]
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"


def test_unknown_labels_are_left_empty() -> None:
    """Without a label column the label cells are missing, not 0."""
    frame = scores_frame(_transactions().drop(columns=["label", "scenario"]), _scores(), THRESHOLDS)
    assert frame["label"].isna().all()
    assert "scenario" not in frame.columns


def test_csv_has_iso_utc_times_and_reads_back(tmp_path: Path) -> None:
    """A .csv file holds a header, Z-suffixed timestamps and exact scores."""
    path = tmp_path / "scores.csv"
    write_scores(scores_frame(_transactions(), _scores(), THRESHOLDS), path)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert "t2,2024-01-01T12:30:00.500000Z,a2,1,card_testing,0.95,0.7,0.9,block" in text
    back = pd.read_csv(path)
    assert back["xgboost"].tolist() == [0.05, 0.95, 0.4]


def test_parquet_keeps_types(tmp_path: Path) -> None:
    """A .parquet file keeps UTC timestamps, nullable labels and float scores."""
    path = tmp_path / "out" / "scores.parquet"
    frame = scores_frame(_transactions(), _scores(), THRESHOLDS)
    write_scores(frame, path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame)


@pytest.mark.parametrize("name", ["scores.json", "scores", "scores.csv.gz"])
def test_unknown_extensions_are_refused_naming_the_flag(tmp_path: Path, name: str) -> None:
    """Only .csv and .parquet are written; anything else is an error under --scores-out."""
    with pytest.raises(InvalidInputError) as caught:
        check_scores_path(tmp_path / name)
    assert caught.value.problems[0].location == "--scores-out"
    assert "must end in .csv or .parquet" in caught.value.problems[0].message
    with pytest.raises(InvalidInputError):
        write_scores(scores_frame(_transactions(), _scores(), THRESHOLDS), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_misaligned_scores_are_a_programming_error() -> None:
    """Scores for a different number of rows than transactions are refused."""
    with pytest.raises(ValueError, match="3 transactions but 2 scores"):
        scores_frame(
            _transactions(),
            ScoreBatch(
                xgboost=np.zeros(2),
                xgboost_margin=np.zeros(2),
                isolation_forest=np.zeros(2),
                ensemble=np.zeros(2),
            ),
            THRESHOLDS,
        )
