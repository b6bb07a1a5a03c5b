"""The loaded model artifact as the ensemble stage uses it: feature vectors in, ensemble rows out.

Scoring is vectorised over the micro-batch (one XGBoost ``inplace_predict`` and one numpy forest
pass per batch). Contributions (approximate TreeSHAP) cost more than scoring, so by default they
are computed only for rows the model alone would send to review or block (``explain="risky"``);
``explain="all"`` explains every row and ``explain="none"`` none.
``bench/bench_inprocess.py`` reports the cost of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from core.models import Contribution, FeatureVector, ModelScore
from engine.contracts import EnsembleRow, Thresholds

if TYPE_CHECKING:
    from artifacts import LoadedModel

ExplainPolicy = Literal["all", "risky", "none"]
DEFAULT_TOP_K = 5


class ArtifactEnsemble:
    """Adapts :class:`artifacts.LoadedModel` to :class:`engine.stages.EnsembleModel`."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        top_k: int = DEFAULT_TOP_K,
        explain: ExplainPolicy = "risky",
    ) -> None:
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        self._model = model
        self._top_k = top_k
        self._explain = explain
        manifest_thresholds = model.thresholds
        self._thresholds = Thresholds(
            review=manifest_thresholds.review, block=manifest_thresholds.block
        )

    @property
    def version(self) -> str:
        """The artifact's version."""
        return self._model.version

    @property
    def thresholds(self) -> Thresholds:
        """The ensemble score's thresholds from the manifest."""
        return self._thresholds

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's feature order."""
        return self._model.feature_names

    def score_vectors(self, vectors: Sequence[FeatureVector]) -> list[EnsembleRow]:
        """Score every vector; explain the rows the policy selects. CPU-bound."""
        if not vectors:
            return []
        rows = self._model.matrix([v.values for v in vectors])
        scores = self._model.score(rows)
        contributions: list[list[Contribution]] = [[] for _ in vectors]
        explained = self._rows_to_explain(scores.ensemble)
        if explained.size:
            picked = self._model.contributions(rows[explained], self._top_k)
            for index, row_contributions in zip(explained.tolist(), picked, strict=True):
                contributions[index] = row_contributions
        out: list[EnsembleRow] = []
        for i in range(len(vectors)):
            risk = float(scores.ensemble[i])
            out.append(
                EnsembleRow(
                    risk=risk,
                    model_scores=[
                        ModelScore(name="ensemble", score=risk, contributions=contributions[i]),
                        ModelScore(name="xgboost", score=float(scores.xgboost[i])),
                        ModelScore(
                            name="isolation_forest", score=float(scores.isolation_forest[i])
                        ),
                    ],
                    contributions=contributions[i],
                )
            )
        return out

    def risks(self, vectors: Sequence[FeatureVector]) -> list[float]:
        """The ensemble risk of every vector, nothing explained (a challenger's shadow score)."""
        if not vectors:
            return []
        scores = self._model.score(self._model.matrix([v.values for v in vectors]))
        return [float(risk) for risk in scores.ensemble]

    def _rows_to_explain(self, ensemble: NDArray[np.float64]) -> NDArray[np.intp]:
        if self._top_k == 0 or self._explain == "none":
            return np.empty(0, dtype=np.intp)
        if self._explain == "all":
            return np.arange(len(ensemble), dtype=np.intp)
        return np.flatnonzero(ensemble >= self._thresholds.review)
