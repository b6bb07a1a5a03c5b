"""A loaded model scores rows and explains them consistently with its parts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from artifacts.ensemble import ensemble_probability, sigmoid
from artifacts.runtime import LoadedModel
from artifacts.store import load_artifact
from core.errors import InvalidInputError
from tests.unit.artifacts.artifact_fixtures import FEATURES, Parts


@pytest.fixture
def model(artifact_dir: Path) -> LoadedModel:
    """The session's artifact, loaded."""
    return load_artifact(artifact_dir, FEATURES)


def test_scores_match_the_underlying_models(parts: Parts, model: LoadedModel) -> None:
    """XGBoost probability equals Booster.predict; forest score equals -score_samples."""
    rows = parts.rows[:300]
    batch = model.score(rows)
    expected = parts.booster.predict(xgb.DMatrix(rows, feature_names=list(FEATURES)))
    np.testing.assert_allclose(batch.xgboost, expected, atol=1e-6)
    np.testing.assert_allclose(batch.isolation_forest, -parts.forest.score_samples(rows), atol=1e-9)


def test_ensemble_follows_the_manifest_formula(parts: Parts, model: LoadedModel) -> None:
    """ensemble = sigmoid(intercept + w_xgb * margin + w_if * anomaly), within [0, 1]."""
    batch = model.score(parts.rows[:300])
    spec = model.manifest.ensemble
    by_hand = sigmoid(
        spec.intercept
        + spec.xgboost_weight * batch.xgboost_margin
        + spec.isolation_forest_weight * batch.isolation_forest
    )
    np.testing.assert_allclose(batch.ensemble, by_hand, rtol=1e-12)
    np.testing.assert_allclose(
        batch.ensemble,
        ensemble_probability(spec, batch.xgboost_margin, batch.isolation_forest),
        rtol=1e-12,
    )
    assert np.all((batch.ensemble >= 0.0) & (batch.ensemble <= 1.0))


def test_sigmoid_saturates_without_overflow() -> None:
    """Extreme log-odds give 0 and 1 exactly, with no warning."""
    np.testing.assert_array_equal(sigmoid(np.array([-1e6, 0.0, 1e6])), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("exact", [True, False])
def test_contributions_sum_to_the_margin(parts: Parts, model: LoadedModel, exact: bool) -> None:
    """Per-feature contributions plus the bias add up to XGBoost's log-odds."""
    rows = parts.rows[:50]
    matrix = model.contribution_matrix(rows, exact=exact)
    assert matrix.shape == (50, len(FEATURES) + 1)
    np.testing.assert_allclose(matrix.sum(axis=1), model.score(rows).xgboost_margin, atol=1e-4)


def test_top_contributions_are_ranked_and_scaled(parts: Parts, model: LoadedModel) -> None:
    """Top-k holds the largest |contribution| first, scaled by the ensemble's XGBoost weight."""
    rows = parts.rows[:5]
    top = model.contributions(rows, top_k=2, exact=True)
    weight = model.manifest.ensemble.xgboost_weight
    raw = model.contribution_matrix(rows, exact=True)[:, :-1] * weight
    for i, items in enumerate(top):
        assert len(items) == 2
        magnitudes = [abs(item.contribution) for item in items]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert magnitudes[0] == pytest.approx(np.abs(raw[i]).max())
        for item in items:
            j = FEATURES.index(item.feature)
            value = rows[i, j]
            assert item.value == (None if math.isnan(value) else pytest.approx(value))


def test_model_scores_name_each_score(parts: Parts, model: LoadedModel) -> None:
    """model_scores gives ensemble (with reasons), xgboost and isolation_forest per row."""
    scores = model.model_scores(parts.rows[:3], top_k=3)
    assert [[s.name for s in row] for row in scores] == [
        ["ensemble", "xgboost", "isolation_forest"]
    ] * 3
    assert all(len(row[0].contributions) == 3 for row in scores)
    assert scores[0][0].score == pytest.approx(model.score(parts.rows[:1]).ensemble[0])


def test_matrix_orders_features_and_maps_none_to_nan(model: LoadedModel) -> None:
    """Mappings become rows in model order; None is missing (NaN)."""
    values = dict(zip(reversed(FEATURES), [1.0, None, 3.0, 4.0], strict=True))
    matrix = model.matrix([values])
    expected = [values[name] for name in FEATURES]
    assert [None if math.isnan(v) else v for v in matrix[0]] == expected


def test_matrix_names_rows_with_missing_features(model: LoadedModel) -> None:
    """A mapping without a model feature is rejected with its row number."""
    complete = dict.fromkeys(FEATURES, 1.0)
    partial = {k: v for k, v in complete.items() if k != "hour"}
    with pytest.raises(InvalidInputError) as caught:
        model.matrix([complete, partial])
    assert [p.location for p in caught.value.problems] == ["row 1"]
    assert "hour" in caught.value.problems[0].message


def test_wrong_width_is_rejected(model: LoadedModel) -> None:
    """A matrix with the wrong number of columns is refused before scoring."""
    with pytest.raises(InvalidInputError, match="expects"):
        model.score(np.zeros((2, len(FEATURES) + 1)))


def test_single_row_vector_is_accepted(parts: Parts, model: LoadedModel) -> None:
    """A 1-D row scores like a one-row matrix."""
    one = model.score(parts.rows[0])
    assert len(one) == 1
    assert one.ensemble[0] == model.score(parts.rows[:1]).ensemble[0]
