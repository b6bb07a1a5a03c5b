"""Model artifacts: the manifest, the on-disk format, and the scoring runtime shared by
``training`` (which writes artifacts) and ``engine`` (which serves them).

Public surface::

    load_artifact(directory, expected_feature_names) -> LoadedModel
    LoadedModel.score(rows) -> ScoreBatch
    LoadedModel.contributions(rows, top_k) -> list[list[Contribution]]
    write_artifact(directory, manifest, xgboost_model, forest) -> Manifest
    artifact_checksum(directory) -> str          (pins the whole artifact)
    load_pinned_artifact(directory, checksum, expected_feature_names) -> LoadedModel
"""

from artifacts.manifest import Manifest, Thresholds
from artifacts.runtime import LoadedModel, ScoreBatch
from artifacts.store import (
    artifact_checksum,
    load_artifact,
    load_pinned_artifact,
    write_artifact,
)

__all__ = [
    "LoadedModel",
    "Manifest",
    "ScoreBatch",
    "Thresholds",
    "artifact_checksum",
    "load_artifact",
    "load_pinned_artifact",
    "write_artifact",
]
