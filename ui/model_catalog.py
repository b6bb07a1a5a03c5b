"""The model artifact as the Models page shows it: manifest, evaluation metrics and plots.

The page only reads: ``manifest.json`` (required), the evaluation report ``metrics.json`` and the
``*.png`` plots written next to it by ``vigil model evaluate``. Files are read as plain JSON so
the page can show an artifact even from a newer Vigil; a missing or broken manifest is a
:class:`~core.errors.ModelArtifactError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from core.errors import ModelArtifactError

MANIFEST_FILE: Final = "manifest.json"
METRICS_FILE: Final = "metrics.json"
SCORE_NAMES: Final = ("xgboost", "isolation_forest", "ensemble")


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One score's quality on the evaluation data (``None``: undefined)."""

    score: str
    roc_auc: float | None
    average_precision: float | None
    review_precision: float | None
    review_recall: float | None
    block_precision: float | None
    block_recall: float | None
    review_threshold: float | None
    block_threshold: float | None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Everything the page shows about one artifact."""

    directory: Path
    version: str
    created_at: str
    manifest: dict[str, Any]
    evaluated_on: str
    metrics: tuple[MetricRow, ...]
    plots: tuple[Path, ...]


def load_model_info(directory: Path) -> ModelInfo:
    """Read the artifact in ``directory``; :class:`ModelArtifactError` when it has no manifest."""
    manifest = _read_json(directory / MANIFEST_FILE, required=True)
    report = _read_json(directory / METRICS_FILE, required=False)
    thresholds = manifest.get("thresholds") or {}
    if report:
        scores = report.get("scores") or {}
        metrics = tuple(_from_report(name, scores[name]) for name in SCORE_NAMES if name in scores)
        data = report.get("data") or {}
        evaluated_on = (
            f"{report.get('scope', 'test')} data: {data.get('rows', '?')} rows, "
            f"{data.get('frauds', '?')} frauds"
        )
    else:
        block = (manifest.get("metrics") or {}).get("test") or {}
        metrics = tuple(
            _from_manifest(name, block[name], thresholds.get(name) or {})
            for name in SCORE_NAMES
            if name in block
        )
        evaluated_on = "test data (from the manifest; no evaluation report)"
    return ModelInfo(
        directory=directory,
        version=str(manifest.get("version", "unknown")),
        created_at=str(manifest.get("created_at", "")),
        manifest=manifest,
        evaluated_on=evaluated_on,
        metrics=metrics,
        plots=tuple(sorted(directory.glob("*.png"))),
    )


def _from_report(name: str, score: dict[str, Any]) -> MetricRow:
    review = score.get("review") or {}
    block = score.get("block") or {}
    return MetricRow(
        score=name,
        roc_auc=score.get("roc_auc"),
        average_precision=score.get("average_precision"),
        review_precision=review.get("precision"),
        review_recall=review.get("recall"),
        block_precision=block.get("precision"),
        block_recall=block.get("recall"),
        review_threshold=review.get("threshold"),
        block_threshold=block.get("threshold"),
    )


def _from_manifest(name: str, metrics: dict[str, Any], thresholds: dict[str, Any]) -> MetricRow:
    return MetricRow(
        score=name,
        roc_auc=metrics.get("roc_auc"),
        average_precision=metrics.get("average_precision"),
        review_precision=metrics.get("review_precision"),
        review_recall=metrics.get("review_recall"),
        block_precision=metrics.get("block_precision"),
        block_recall=metrics.get("block_recall"),
        review_threshold=thresholds.get("review"),
        block_threshold=thresholds.get("block"),
    )


def _read_json(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ModelArtifactError(f"{path.parent}: no {path.name}; not a model artifact")
        return {}
    try:
        data = msgspec.json.decode(path.read_bytes())
    except msgspec.DecodeError as exc:
        raise ModelArtifactError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelArtifactError(f"{path}: expected a JSON object")
    return data
