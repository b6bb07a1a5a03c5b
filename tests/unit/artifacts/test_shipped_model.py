"""The model shipped in the repository loads and matches the shipped feature specs."""

from __future__ import annotations

import numpy as np

from artifacts import load_artifact
from config.settings import load_settings
from features.spec import default_feature_set


def test_shipped_model_matches_the_default_feature_set() -> None:
    """The default artifact's checksums verify and its feature names equal the spec's names."""
    feature_set = default_feature_set()
    model = load_artifact(load_settings(environ={}).model_dir, feature_set.names)
    assert model.feature_names == tuple(feature_set.names)
    assert model.manifest.feature_spec_version == feature_set.version


def test_shipped_model_scores_in_the_unit_interval() -> None:
    """Scores of an all-missing row and a typical row are probabilities."""
    feature_set = default_feature_set()
    model = load_artifact(load_settings(environ={}).model_dir, feature_set.names)
    rows = np.full((2, len(feature_set.names)), np.nan)
    rows[1] = 1.0
    batch = model.score(rows)
    assert np.all((batch.ensemble >= 0.0) & (batch.ensemble <= 1.0))
    assert 0.0 < model.thresholds.review <= model.thresholds.block <= 1.0
