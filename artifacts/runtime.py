"""The scoring runtime: a loaded artifact that scores feature rows and explains them.

Shared by ``training`` (validation, evaluation) and ``engine`` (online scoring), so a model is
scored by exactly the same code offline and online. Rows are ``float64`` matrices in the
manifest's feature order with NaN for a missing value; :meth:`LoadedModel.matrix` builds one from
feature mappings.

Measured on the 2-core dev machine with a 149-tree, 39-feature model
(``bench/bench_model_scoring.py``, p50 for one row): :meth:`LoadedModel.score` ~0.3 ms
(XGBoost ``inplace_predict`` ~0.19 ms, the numpy forest ~54 µs where scikit-learn takes ~10 ms);
exact TreeSHAP (``pred_contribs``) ~2.3 ms and Saabas ``approx_contribs`` ~0.45 ms, hence
approximate contributions by default online and exact ones on request (reports).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray

from artifacts.ensemble import ensemble_probability, sigmoid
from artifacts.isolation_forest import CompiledForest
from artifacts.manifest import Manifest, Thresholds
from core.errors import InvalidInputError, Problem
from core.models import Contribution, ModelScore

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class ScoreBatch:
    """Scores of a batch of rows, one array entry per row, all in [0, 1] except the margin."""

    xgboost: FloatArray
    """XGBoost's fraud probability, ``sigmoid(xgboost_margin)``."""
    xgboost_margin: FloatArray
    """XGBoost's raw log-odds (sum of the trees plus the base score)."""
    isolation_forest: FloatArray
    """Anomaly score in (0, 1] (``-IsolationForest.score_samples``; above ~0.5 is unusual)."""
    ensemble: FloatArray
    """The calibrated combination the engine decides with (see :mod:`artifacts.ensemble`)."""

    def __len__(self) -> int:
        return len(self.ensemble)

    def by_name(self, name: str) -> FloatArray:
        """The scores named ``xgboost``, ``isolation_forest`` or ``ensemble``."""
        scores = {
            "xgboost": self.xgboost,
            "isolation_forest": self.isolation_forest,
            "ensemble": self.ensemble,
        }
        if name not in scores:
            raise KeyError(f"no score named {name!r}; known: {', '.join(scores)}")
        return scores[name]


class LoadedModel:
    """A verified artifact ready to score; build it with :func:`artifacts.load_artifact`."""

    def __init__(
        self,
        manifest: Manifest,
        booster: xgb.Booster,
        forest: CompiledForest,
        directory: Path | None = None,
        *,
        n_threads: int = 1,
    ) -> None:
        self.manifest = manifest
        self.n_threads = n_threads
        self.directory = directory
        self.feature_names: tuple[str, ...] = tuple(manifest.feature_names)
        self._booster = booster
        self._forest = forest

    @property
    def version(self) -> str:
        """The artifact's version, recorded on every decision."""
        return self.manifest.version

    @property
    def thresholds(self) -> Thresholds:
        """The suggested review/block thresholds of the ensemble score."""
        return self.manifest.thresholds["ensemble"]

    @property
    def booster(self) -> xgb.Booster:
        """The XGBoost model (for feature importances in reports)."""
        return self._booster

    def matrix(self, rows: Sequence[Mapping[str, float | None]]) -> FloatArray:
        """Feature mappings → a row matrix in model order; ``None`` becomes NaN.

        Raises :class:`InvalidInputError` naming each row that lacks a model feature.
        """
        matrix = np.empty((len(rows), len(self.feature_names)), dtype=np.float64)
        problems = []
        for i, row in enumerate(rows):
            missing = [name for name in self.feature_names if name not in row]
            if missing:
                problems.append(Problem(f"row {i}", f"missing features {', '.join(missing)}"))
                continue
            matrix[i] = [math.nan if row[n] is None else row[n] for n in self.feature_names]
        if problems:
            raise InvalidInputError("feature rows do not match the model", problems)
        return matrix

    def score(self, features: NDArray[Any]) -> ScoreBatch:
        """Score rows of ``features`` (shape ``(n, len(feature_names))``, NaN = missing)."""
        rows = self._checked(features)
        margin = np.asarray(
            self._booster.inplace_predict(rows, predict_type="margin"), dtype=np.float64
        ).reshape(len(rows))
        anomaly = self._forest.anomaly_score(rows)
        return ScoreBatch(
            xgboost=sigmoid(margin),
            xgboost_margin=margin,
            isolation_forest=anomaly,
            ensemble=ensemble_probability(self.manifest.ensemble, margin, anomaly),
        )

    def contribution_matrix(self, features: NDArray[Any], *, exact: bool = False) -> FloatArray:
        """Per-feature contributions to XGBoost's log-odds, shape ``(n, n_features + 1)``.

        The last column is the bias; each row sums to the margin. ``exact`` selects TreeSHAP
        (``pred_contribs``), otherwise Saabas' path attribution (``approx_contribs``), which is an
        order of magnitude cheaper and ranks the top features almost identically.
        """
        rows = self._checked(features)
        matrix = xgb.DMatrix(
            rows, feature_names=list(self.feature_names), missing=np.nan, nthread=self.n_threads
        )
        contribs = self._booster.predict(matrix, pred_contribs=True, approx_contribs=not exact)
        return np.asarray(contribs, dtype=np.float64).reshape(len(rows), -1)

    def contributions(
        self, features: NDArray[Any], top_k: int = 5, *, exact: bool = False
    ) -> list[list[Contribution]]:
        """The ``top_k`` features per row by absolute contribution to the ensemble's log-odds.

        A feature's share is ``xgboost_weight * its XGBoost contribution`` (exact in log-odds,
        see :mod:`artifacts.ensemble`); positive pushes towards fraud.
        """
        rows = self._checked(features)
        weight = self.manifest.ensemble.xgboost_weight
        per_feature = self.contribution_matrix(rows, exact=exact)[:, :-1] * weight
        return [
            _top_contributions(self.feature_names, rows[i], per_feature[i], top_k)
            for i in range(len(rows))
        ]

    def model_scores(
        self, features: NDArray[Any], top_k: int = 5, *, exact: bool = False
    ) -> list[list[ModelScore]]:
        """Per row: the ensemble (with its top contributions), XGBoost and the forest scores."""
        rows = self._checked(features)
        batch = self.score(rows)
        explained = self.contributions(rows, top_k, exact=exact) if top_k > 0 else None
        return [
            [
                ModelScore(
                    name="ensemble",
                    score=float(batch.ensemble[i]),
                    contributions=explained[i] if explained is not None else [],
                ),
                ModelScore(name="xgboost", score=float(batch.xgboost[i])),
                ModelScore(name="isolation_forest", score=float(batch.isolation_forest[i])),
            ]
            for i in range(len(rows))
        ]

    def _checked(self, features: NDArray[Any]) -> FloatArray:
        rows = np.ascontiguousarray(features, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2 or rows.shape[1] != len(self.feature_names):
            raise InvalidInputError(
                f"feature matrix has shape {rows.shape}; the model expects "
                f"(n, {len(self.feature_names)}) in the manifest's feature order"
            )
        return rows


def _top_contributions(
    names: Sequence[str], values: FloatArray, contributions: FloatArray, top_k: int
) -> list[Contribution]:
    order = np.argsort(-np.abs(contributions), kind="stable")[:top_k]
    return [
        Contribution(
            feature=names[j],
            value=None if math.isnan(values[j]) else float(values[j]),
            contribution=float(contributions[j]),
        )
        for j in order
    ]
