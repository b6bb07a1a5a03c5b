"""Training cuts the data in time, fits both models reproducibly and writes a loadable artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artifacts.manifest import ISOLATION_FOREST_FILE, MANIFEST_FILE, MODEL_NAMES, XGBOOST_FILE
from artifacts.store import load_artifact
from core.errors import InvalidInputError
from tests.unit.training.train_fixtures import FAST, Labelled, clock, labelled
from training.train import TrainingRun, fit, train


@pytest.fixture(scope="module")
def data() -> Labelled:
    """6,000 synthetic rows over 60 days, 4% fraud."""
    return labelled()


@pytest.fixture(scope="module")
def run(data: Labelled) -> TrainingRun:
    """One training run on ``data`` with a 5-day gap, shared by the read-only tests."""
    return fit(data.dataset, data.feature_set, gap_days=5, params=FAST, features=data.features)


def _train(data: Labelled, out: Path, seed: int = 0) -> Path:
    return train(
        data.dataset,
        data.feature_set,
        out,
        seed=seed,
        gap_days=5,
        test_fraction=0.2,
        params=FAST,
        features=data.features,
        clock=clock(),
    )


def test_training_twice_gives_identical_files(data: Labelled, tmp_path: Path) -> None:
    """Same data, seed and clock: byte-identical model files and the same version."""
    first = _train(data, tmp_path / "a")
    second = _train(data, tmp_path / "b")
    for name in (MANIFEST_FILE, XGBOOST_FILE, ISOLATION_FOREST_FILE):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other = _train(data, tmp_path / "c", seed=1)
    assert (other / XGBOOST_FILE).read_bytes() != (first / XGBOOST_FILE).read_bytes()
    assert load_artifact(other).version != load_artifact(first).version


def test_artifact_loads_against_the_feature_set(data: Labelled, tmp_path: Path) -> None:
    """The artifact carries the feature set's names and version and loads against them."""
    model = load_artifact(_train(data, tmp_path / "m"), data.feature_set.names)
    manifest = model.manifest
    assert manifest.feature_spec_version == data.feature_set.version
    assert manifest.data.rows == len(data.dataset)
    assert manifest.data.frauds == int(data.dataset["label"].sum())
    assert manifest.created_at == clock().now()
    assert model.version.startswith("xgb-if-20250315-")


def test_blocks_partition_the_rows_in_time(data: Labelled, run: TrainingRun) -> None:
    """fit + validation + gap + test = all rows; the gap precedes the recorded test start."""
    split = run.manifest.split
    blocks = (split.fit, split.validation, split.gap, split.test)
    assert sum(b.rows for b in blocks) == len(data.dataset)
    assert split.gap.rows > 0
    assert split.fit.end is not None
    assert split.validation.start is not None
    assert split.fit.end <= split.validation.start
    assert (split.test_start - split.gap_start).days == 5


def test_forest_learns_only_legitimate_fit_rows(data: Labelled, run: TrainingRun) -> None:
    """The Isolation Forest's training rows are the label-0 rows of the fit block."""
    legit_fit = int(np.count_nonzero(run.split.fit & (data.dataset["label"].to_numpy() == 0)))
    assert run.manifest.isolation_forest.training_rows == legit_fit
    assert run.manifest.isolation_forest.n_estimators == FAST.forest_trees
    assert run.forest.n_trees == FAST.forest_trees


def test_xgboost_parameters_are_recorded(data: Labelled, run: TrainingRun) -> None:
    """Requested and effective XGBoost parameters, incl. base_score and tree method, are kept."""
    info = run.manifest.xgboost
    fit_labels = data.dataset["label"].to_numpy()[run.split.fit]
    frauds = int(fit_labels.sum())
    assert info.params["scale_pos_weight"] == pytest.approx((len(fit_labels) - frauds) / frauds)
    assert info.effective_config["learner.gradient_booster.gbtree_train_param.tree_method"] == (
        "hist"
    )
    assert "learner.learner_model_param.base_score" in info.effective_config
    assert info.n_trees == info.best_iteration + 1
    assert 0.0 < info.base_score < 1.0


def test_ensemble_and_thresholds_are_sane(run: TrainingRun) -> None:
    """Ensemble weights are non-negative; every threshold is in [0, 1] with review <= block."""
    ensemble = run.manifest.ensemble
    assert ensemble.xgboost_weight >= 0.0
    assert ensemble.isolation_forest_weight >= 0.0
    assert ensemble.fitted_rows == run.manifest.split.validation.rows
    for name in MODEL_NAMES:
        thresholds = run.manifest.thresholds[name]
        assert 0.0 <= thresholds.review <= thresholds.block <= 1.0


def test_metrics_cover_validation_and_test(run: TrainingRun) -> None:
    """The manifest holds validation and test metrics for every score; the signal is found."""
    assert set(run.manifest.metrics) == {"validation", "test"}
    test = run.manifest.metrics["test"]
    assert set(test) == set(MODEL_NAMES)
    assert test["ensemble"].rows == run.manifest.split.test.rows
    roc_auc = test["ensemble"].roc_auc
    assert roc_auc is not None
    assert roc_auc > 0.8


def test_features_are_computed_when_not_given(data: Labelled) -> None:
    """Without precomputed features, training computes them from the specs."""
    run = fit(data.dataset, data.feature_set, params=FAST)
    assert list(run.features.columns) == list(data.feature_set.names)
    assert run.features["txn_count_by_account_1h"].min() >= 1.0


def test_bad_labels_are_named_by_row(data: Labelled) -> None:
    """A label other than 0/1 is rejected with its row."""
    dataset = data.dataset.copy()
    dataset.loc[7, "label"] = 3
    with pytest.raises(InvalidInputError) as caught:
        fit(dataset, data.feature_set, params=FAST, features=data.features)
    assert caught.value.problems[0].location == "row 7, column label"


def test_missing_columns_are_listed(data: Labelled) -> None:
    """A dataset without labels or scenarios cannot train."""
    dataset = data.dataset.drop(columns=["label", "scenario"])
    with pytest.raises(InvalidInputError) as caught:
        fit(dataset, data.feature_set, params=FAST, features=data.features)
    assert [p.location for p in caught.value.problems] == ["column label", "column scenario"]


def test_fit_block_without_fraud_is_explained(data: Labelled) -> None:
    """When every fraud falls in the test block, training says which block lacks them."""
    dataset = data.dataset.copy()
    dataset["label"] = np.where(np.arange(len(dataset)) >= len(dataset) - 100, 1, 0).astype(np.int8)
    dataset["scenario"] = np.where(dataset["label"] == 1, "card_testing", "legit")
    with pytest.raises(InvalidInputError) as caught:
        fit(dataset, data.feature_set, params=FAST, features=data.features)
    assert [p.location for p in caught.value.problems] == ["fit block", "validation block"]


def test_feature_frame_must_follow_the_feature_set(data: Labelled) -> None:
    """Precomputed features in another column order are refused."""
    reordered = data.features[list(reversed(data.feature_set.names))]
    with pytest.raises(InvalidInputError, match="not the feature set's names in order"):
        fit(data.dataset, data.feature_set, params=FAST, features=reordered)
