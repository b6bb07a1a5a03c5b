"""A small artifact (XGBoost + Isolation Forest on synthetic rows) written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import xgboost as xgb
from sklearn.ensemble import IsolationForest

from artifacts.isolation_forest import export_isolation_forest
from artifacts.store import write_artifact
from tests.unit.artifacts.artifact_fixtures import FEATURES, Parts, make_manifest, synthetic_rows


@pytest.fixture(scope="session")
def parts() -> Parts:
    """A booster and a forest trained on 2,000 synthetic rows, and a manifest for them."""
    rows, labels = synthetic_rows(2000, seed=1)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0},
        xgb.DMatrix(rows, labels, feature_names=list(FEATURES)),
        num_boost_round=20,
    )
    forest = IsolationForest(n_estimators=50, max_samples=128, random_state=0).fit(rows)
    return Parts(
        manifest=make_manifest(),
        booster=booster,
        forest=forest,
        arrays=export_isolation_forest(forest),
        rows=rows,
    )


@pytest.fixture
def artifact_dir(parts: Parts, tmp_path: Path) -> Path:
    """A freshly written artifact directory (safe to corrupt)."""
    directory = tmp_path / "model"
    write_artifact(directory, parts.manifest, bytes(parts.booster.save_raw("ubj")), parts.arrays)
    return directory
