"""The ensemble stage scores a batch at once and explains only the rows its policy selects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from core.models import Contribution, FeatureVector
from engine.model import ArtifactEnsemble, ExplainPolicy


@dataclass(frozen=True)
class _Thresholds:
    review: float = 0.5
    block: float = 0.9


@dataclass(frozen=True)
class _Scores:
    ensemble: np.ndarray[Any, np.dtype[np.float64]]
    xgboost: np.ndarray[Any, np.dtype[np.float64]]
    isolation_forest: np.ndarray[Any, np.dtype[np.float64]]


class FakeLoadedModel:
    """Scores a row by its `risk` feature; records which rows were explained."""

    version = "m-test"
    thresholds = _Thresholds()
    feature_names = ("risk",)

    def __init__(self) -> None:
        self.explained: list[list[float]] = []

    def matrix(self, rows: Sequence[Mapping[str, float | None]]) -> Any:
        return np.array([[np.nan if r["risk"] is None else r["risk"]] for r in rows])

    def score(self, rows: Any) -> _Scores:
        risk = np.nan_to_num(rows[:, 0])
        return _Scores(ensemble=risk, xgboost=risk, isolation_forest=1 - risk)

    def contributions(self, rows: Any, top_k: int = 5) -> list[list[Contribution]]:
        self.explained.append([float(r[0]) for r in rows])
        return [
            [Contribution(feature="risk", value=float(r[0]), contribution=float(r[0]))][:top_k]
            for r in rows
        ]


def _vectors(*risks: float | None) -> list[FeatureVector]:
    return [FeatureVector(values={"risk": r}, spec_version="fs") for r in risks]


def _ensemble(explain: ExplainPolicy, top_k: int = 5) -> tuple[ArtifactEnsemble, FakeLoadedModel]:
    fake = FakeLoadedModel()
    return ArtifactEnsemble(fake, top_k=top_k, explain=explain), fake  # type: ignore[arg-type]


def test_risky_policy_explains_only_review_worthy_rows() -> None:
    """With explain='risky' only rows at or above the review threshold get contributions."""
    ensemble, fake = _ensemble("risky")
    rows = ensemble.score_vectors(_vectors(0.1, 0.7, 0.5, None))
    assert fake.explained == [[0.7, 0.5]]
    assert [bool(r.contributions) for r in rows] == [False, True, True, False]
    assert rows[1].contributions[0].feature == "risk"


@pytest.mark.parametrize(("policy", "calls"), [("all", [[0.1, 0.7]]), ("none", [])])
def test_all_and_none_policies(policy: ExplainPolicy, calls: list[list[float]]) -> None:
    """explain='all' explains every row in one call; explain='none' never calls the explainer."""
    ensemble, fake = _ensemble(policy)
    ensemble.score_vectors(_vectors(0.1, 0.7))
    assert fake.explained == calls


def test_rows_carry_the_three_named_scores_in_order() -> None:
    """Each row has ensemble, xgboost and isolation_forest scores; risk is the ensemble score."""
    ensemble, _ = _ensemble("none")
    [row] = ensemble.score_vectors(_vectors(0.25))
    assert [s.name for s in row.model_scores] == ["ensemble", "xgboost", "isolation_forest"]
    assert row.risk == pytest.approx(0.25)
    assert row.model_scores[2].score == pytest.approx(0.75)


def test_manifest_thresholds_and_version_are_exposed() -> None:
    """The stage reports the artifact's version and its ensemble thresholds."""
    ensemble, _ = _ensemble("none")
    assert ensemble.version == "m-test"
    assert (ensemble.thresholds.review, ensemble.thresholds.block) == (0.5, 0.9)
    assert ensemble.score_vectors([]) == []
