"""Training on date windows with late labels and capacity thresholds; evaluating a window."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from artifacts.manifest import MODEL_NAMES
from artifacts.runtime import LoadedModel
from artifacts.store import load_artifact
from core.errors import InvalidInputError
from tests.unit.training.train_fixtures import FAST, Labelled, clock, labelled
from training.calibration import ThresholdPolicy
from training.evaluate import evaluate
from training.evaluation_types import Scope
from training.report import render_markdown
from training.train import TrainingRun, fit, train
from training.windows import TimeWindows

WINDOWS = TimeWindows(
    train_start=datetime(2025, 1, 11, tzinfo=UTC),
    train_end=datetime(2025, 2, 10, tzinfo=UTC),
    test_start=datetime(2025, 2, 17, tzinfo=UTC),
    test_end=datetime(2025, 2, 27, tzinfo=UTC),
)
CAPACITY = dataclasses.replace(FAST, thresholds=ThresholdPolicy(reviews_per_day=5.0))


@pytest.fixture(scope="module")
def data() -> Labelled:
    """6,000 synthetic rows over 60 days from 2025-01-01, 4% fraud."""
    return labelled(seed=3)


@pytest.fixture(scope="module")
def run(data: Labelled) -> TrainingRun:
    """Trained on the windows with a 4-day label delay and a 5-reviews-a-day capacity."""
    return fit(
        data.dataset,
        data.feature_set,
        windows=WINDOWS,
        label_delay=timedelta(days=4),
        params=CAPACITY,
        features=data.features,
    )


@pytest.fixture(scope="module")
def model(data: Labelled, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """The artifact of ``run``'s settings, written and loaded."""
    out = tmp_path_factory.mktemp("windows") / "model"
    train(
        data.dataset,
        data.feature_set,
        out,
        windows=WINDOWS,
        label_delay=timedelta(days=4),
        params=CAPACITY,
        features=data.features,
        clock=clock(),
    )
    return load_artifact(out, data.feature_set.names)


def _times(data: Labelled) -> pd.Series:
    return data.dataset["timestamp"]


def test_manifest_records_the_windows_and_every_block(data: Labelled, run: TrainingRun) -> None:
    """Mode, window bounds and the gap are recorded; the blocks partition the rows."""
    split = run.manifest.split
    assert split.mode == "windows"
    assert (split.train_start, split.gap_start) == (WINDOWS.train_start, WINDOWS.train_end)
    assert (split.test_start, split.test_end) == (WINDOWS.test_start, WINDOWS.test_end)
    assert split.gap_days == 7.0
    assert split.unlabelled is not None
    assert split.outside is not None
    blocks = (split.fit, split.validation, split.unlabelled, split.gap, split.test, split.outside)
    assert sum(b.rows for b in blocks) == len(data.dataset)
    times = _times(data)
    in_test = (times >= WINDOWS.test_start) & (times < WINDOWS.test_end)
    assert split.test.rows == int(in_test.sum())
    assert split.outside.rows > 0  # the first 10 days and the last days are feature history


def test_only_labels_known_by_the_train_end_are_trained_on(
    data: Labelled, run: TrainingRun
) -> None:
    """With a 4-day delay, the last 4 train days are unlabelled and no model learns from them."""
    times = _times(data)
    cutoff = pd.Timestamp(WINDOWS.train_end) - pd.Timedelta(days=4)
    late = (times > cutoff) & (times < WINDOWS.train_end)
    assert np.array_equal(run.split.unlabelled, late.to_numpy())
    learned = run.split.fit | run.split.validation
    assert times[learned].max() <= cutoff
    assert run.manifest.split.labels_known_by == WINDOWS.train_end
    assert run.manifest.split.label_delay_days == 4.0
    legit_fit = int(np.count_nonzero(run.split.fit & (data.dataset["label"].to_numpy() == 0)))
    assert run.manifest.isolation_forest.training_rows == legit_fit


def test_a_label_known_at_column_overrides_the_delay(data: Labelled) -> None:
    """Frauds reported after the train end are left out even without a delay; rows with an
    empty label_known_at are known at their event time."""
    dataset = data.dataset.copy()
    times = dataset["timestamp"]
    late = ((dataset["label"] == 1) & (times >= "2025-01-20") & (times < "2025-01-25")).to_numpy()
    dataset["label_known_at"] = pd.Series(pd.NaT, index=dataset.index, dtype="datetime64[us, UTC]")
    dataset.loc[late, "label_known_at"] = pd.Timestamp("2025-03-31T00:00:00Z")
    run = fit(dataset, data.feature_set, windows=WINDOWS, params=FAST, features=data.features)
    assert late.any()
    assert np.array_equal(run.split.unlabelled, late)


def test_capacity_policy_is_recorded_with_expected_alerts(run: TrainingRun) -> None:
    """The manifest states the capacity policy; expected review alerts per day fit it."""
    policy = run.manifest.threshold_policy
    assert policy is not None
    assert (policy.review, policy.reviews_per_day, policy.review_recall) == ("capacity", 5.0, None)
    assert policy.volume_rows == int(run.split.validation_period.sum())
    assert policy.rows_per_day == pytest.approx(run.split.train_rows_per_day)
    for name in MODEL_NAMES:
        expected = run.manifest.metrics["validation"][name]
        assert expected.review_alerts_per_day is not None
        assert expected.review_alerts_per_day <= 5.0
        assert expected.review_alert_rate is not None
        assert "fit 5 per day" in run.manifest.thresholds[name].review_policy


def test_default_training_records_the_recall_policy(data: Labelled) -> None:
    """Without windows or capacity: fractions mode, recall policy, nothing unlabelled."""
    run = fit(data.dataset, data.feature_set, gap_days=5, params=FAST, features=data.features)
    split = run.manifest.split
    assert split.mode == "fractions"
    assert (split.train_start, split.test_end, split.label_delay_days) == (None, None, 0.0)
    assert split.unlabelled is not None
    assert split.unlabelled.rows == 0
    policy = run.manifest.threshold_policy
    assert policy is not None
    assert (policy.review, policy.review_recall, policy.reviews_per_day) == ("recall", 0.8, None)
    test = run.manifest.metrics["test"]["ensemble"]
    assert test.review_alerts_per_day is not None
    assert test.review_alert_rate is not None


def test_test_scope_of_a_windowed_model_stops_at_the_test_end(
    data: Labelled, model: LoadedModel
) -> None:
    """Evaluating `test` scores [test_start, test_end) and measures alerts per day over it."""
    result = evaluate(model, data.dataset, features=data.features)
    assert result.evaluation.data.rows == model.manifest.split.test.rows
    assert result.evaluation.days == 10.0
    review = result.evaluation.scores["ensemble"].review
    assert review.alerts_per_day == pytest.approx(review.flagged / 10.0)
    assert review.alert_rate == pytest.approx(review.flagged / result.evaluation.data.rows)


def test_an_explicit_window_is_evaluated(data: Labelled, model: LoadedModel) -> None:
    """Scope `window` scores the rows of [start, end) and reports that period."""
    window = (datetime(2025, 2, 20, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    result = evaluate(
        model, data.dataset, scope=Scope.WINDOW, window=window, features=data.features
    )
    times = _times(data)
    assert result.evaluation.data.rows == int(((times >= window[0]) & (times < window[1])).sum())
    assert (result.evaluation.start, result.evaluation.end) == window
    assert len(result.transactions) == result.evaluation.data.rows


def test_a_window_overlapping_training_is_refused(data: Labelled, model: LoadedModel) -> None:
    """Testing on rows the model trained on is a leak: the error names --test-start."""
    window = (datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC))
    with pytest.raises(InvalidInputError) as caught:
        evaluate(model, data.dataset, scope=Scope.WINDOW, window=window, features=data.features)
    assert caught.value.problems[0].location == "--test-start"
    with pytest.raises(InvalidInputError, match="goes with scope 'window'"):
        evaluate(model, data.dataset, scope=Scope.ALL, window=window, features=data.features)


def test_report_shows_alerts_at_the_chosen_thresholds(
    data: Labelled, model: LoadedModel, tmp_path: Path
) -> None:
    """The report has the policy and alert rate, precision and recall per threshold."""
    result = evaluate(model, data.dataset, features=data.features)
    text = render_markdown(result.evaluation, model.manifest, [], [])
    assert "## Alerts at the chosen thresholds" in text
    assert "review by capacity, at most 5 alerts (review and block) per day" in text
    assert "| Ensemble | review |" in text
    assert "Date windows: train [2025-01-11, 2025-02-10), test [2025-02-17, 2025-02-27)" in text
    assert "Labels as known at 2025-02-10" in text
