"""The numpy Isolation Forest reproduces scikit-learn and stores as plain arrays."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from artifacts.isolation_forest import (
    CompiledForest,
    average_path_length,
    export_isolation_forest,
    forest_from_npz,
    forest_to_npz,
)
from core.errors import ModelArtifactError


def _data(n: int, width: int, seed: int, missing: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, width)) * rng.uniform(0.1, 100.0, size=width)
    rows[rng.random(rows.shape) < missing] = np.nan
    return rows


@pytest.mark.parametrize(
    ("max_samples", "max_features", "missing"),
    [(256, 1.0, 0.0), (256, 1.0, 0.1), (64, 0.5, 0.05), (300, 3, 0.2)],
)
def test_scores_equal_sklearn_score_samples(
    max_samples: int, max_features: float, missing: float
) -> None:
    """The anomaly score is -score_samples to 1e-9, with missing values and feature subsets."""
    train = _data(3000, 6, seed=1, missing=missing)
    forest = IsolationForest(
        n_estimators=60, max_samples=max_samples, max_features=max_features, random_state=4
    ).fit(train)
    probe = np.vstack([_data(2000, 6, seed=2, missing=0.15) * 3.0, train[:200]])
    compiled = CompiledForest(export_isolation_forest(forest))
    np.testing.assert_allclose(
        compiled.anomaly_score(probe), -forest.score_samples(probe), rtol=0, atol=1e-9
    )


def test_scores_are_computed_in_float32_like_sklearn() -> None:
    """Inputs are rounded to float32 before comparing, as scikit-learn does."""
    train = np.linspace(0.0, 1.0, 500).reshape(-1, 1) + 1e-9
    forest = IsolationForest(n_estimators=30, random_state=0).fit(train)
    tree = forest.estimators_[0].tree_
    thresholds = np.unique(tree.threshold[tree.feature >= 0])
    probe = np.concatenate([thresholds, np.nextafter(thresholds, np.inf)]).reshape(-1, 1)
    compiled = CompiledForest(export_isolation_forest(forest))
    np.testing.assert_allclose(
        compiled.anomaly_score(probe), -forest.score_samples(probe), rtol=0, atol=1e-12
    )


def test_single_row_and_chunked_batches_agree() -> None:
    """Scoring one row at a time equals scoring a batch larger than one chunk."""
    forest = IsolationForest(n_estimators=200, random_state=3).fit(_data(2000, 4, 5, 0.0))
    compiled = CompiledForest(export_isolation_forest(forest))
    probe = _data(1500, 4, seed=6, missing=0.05)
    batch = compiled.anomaly_score(probe)
    singles = np.array([compiled.anomaly_score(row[np.newaxis, :])[0] for row in probe[:50]])
    np.testing.assert_array_equal(batch[:50], singles)
    assert batch.shape == (1500,)
    assert np.all((batch > 0.0) & (batch <= 1.0))


def test_average_path_length_matches_the_formula() -> None:
    """c(1) = 0, c(2) = 1, c(n) = 2 H(n-1) - 2 (n-1)/n with H approximated by ln + gamma."""
    n = np.array([1, 2, 3, 256])
    expected = [
        0.0,
        1.0,
        2.0 * (np.log(2.0) + np.euler_gamma) - 4.0 / 3.0,
        2.0 * (np.log(255.0) + np.euler_gamma) - 2.0 * 255.0 / 256.0,
    ]
    np.testing.assert_allclose(average_path_length(n), expected, rtol=1e-15)


def test_npz_round_trip_is_exact_and_pickle_free() -> None:
    """Saved arrays load back equal, and the file holds no object arrays."""
    forest = IsolationForest(n_estimators=5, random_state=0).fit(_data(300, 3, 1, 0.1))
    arrays = export_isolation_forest(forest)
    raw = forest_to_npz(arrays)
    loaded = forest_from_npz(raw, source="forest.npz")
    for name in ("tree_offsets", "children_left", "feature", "threshold", "missing_go_to_left"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(arrays, name))
    assert (loaded.max_samples, loaded.n_features) == (arrays.max_samples, 3)
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)


def test_garbage_bytes_are_rejected_with_the_source() -> None:
    """Bytes that are not an npz raise ModelArtifactError naming the file."""
    with pytest.raises(ModelArtifactError, match=r"forest\.npz: not a readable"):
        forest_from_npz(b"not a zip", source="forest.npz")


def test_child_pointing_outside_its_tree_is_rejected() -> None:
    """A tree whose child index leaves the tree is malformed."""
    forest = IsolationForest(n_estimators=2, random_state=0).fit(_data(100, 2, 1, 0.0))
    arrays = export_isolation_forest(forest)
    left = arrays.children_left.copy()
    left[0] = 10_000
    broken = dataclasses.replace(arrays, children_left=left)
    with pytest.raises(ModelArtifactError, match="children_left points outside its tree"):
        forest_from_npz(forest_to_npz(broken), source="f.npz")


def test_feature_index_out_of_range_is_rejected() -> None:
    """A split on a feature the model does not have is malformed."""
    forest = IsolationForest(n_estimators=2, random_state=0).fit(_data(100, 2, 1, 0.0))
    arrays = export_isolation_forest(forest)
    broken = dataclasses.replace(arrays, n_features=1)
    with pytest.raises(ModelArtifactError, match="feature index outside"):
        forest_from_npz(forest_to_npz(broken), source="f.npz")


def test_wrong_width_is_rejected() -> None:
    """Rows with the wrong number of features are refused."""
    forest = IsolationForest(n_estimators=2, random_state=0).fit(_data(100, 2, 1, 0.0))
    with pytest.raises(ValueError, match="expected rows of 2 features"):
        CompiledForest(export_isolation_forest(forest)).anomaly_score(np.zeros((1, 3)))
