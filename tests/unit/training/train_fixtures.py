"""Small labelled datasets with precomputed features, for the training and evaluation tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.clock import ManualClock
from features.spec import FeatureSet
from features.spec_file import parse_feature_set
from training.estimators import ModelParams

SPEC = """\
windowed:
  - {entity: account, stat: count, windows: [1h, 24h]}
  - {entity: account, stat: zscore, window: 30d}
per_transaction: [amount, hour_of_day]
"""
START = pd.Timestamp("2025-01-01T00:00:00Z")
SCENARIOS = ("card_testing", "account_takeover")
FAST = ModelParams(n_estimators=25, early_stopping_rounds=10, forest_trees=30, n_threads=1)
"""Small models: the tests check behaviour, not accuracy."""


@dataclass(frozen=True)
class Labelled:
    """A dataset and its (synthetic) feature frame."""

    dataset: pd.DataFrame
    features: pd.DataFrame
    feature_set: FeatureSet


def feature_set() -> FeatureSet:
    """A five-feature set parsed from a tiny spec."""
    return parse_feature_set(SPEC, "test-features.yaml")


def clock() -> ManualClock:
    """A fixed creation time for reproducible artifacts."""
    return ManualClock(datetime(2025, 3, 15, tzinfo=UTC))


def labelled(n: int = 6000, days: int = 60, seed: int = 0, fraud_rate: float = 0.04) -> Labelled:
    """``n`` time-ordered rows over ``days`` days; frauds shift the first three features."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0.0, days * 86_400.0, size=n))
    labels = (rng.random(n) < fraud_rate).astype(np.int8)
    scenario = np.where(labels == 1, rng.choice(SCENARIOS, size=n), "legit")
    dataset = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "account_id": [f"a{i}" for i in rng.integers(0, 200, size=n)],
            "amount": np.round(rng.lognormal(3.0, 1.0, size=n), 2),
            "timestamp": START + pd.to_timedelta(np.round(offsets * 1e6), unit="us"),
            "label": labels,
            "scenario": scenario,
        }
    )
    fs = feature_set()
    values = rng.normal(size=(n, len(fs.names)))
    values[labels == 1, 0] += 2.0
    values[labels == 1, 1] += 1.0
    values[labels == 1, 2] += 1.5
    values[rng.random(values.shape) < 0.03] = np.nan
    features = pd.DataFrame(values, index=dataset.index, columns=list(fs.names))
    return Labelled(dataset=dataset, features=features, feature_set=fs)
