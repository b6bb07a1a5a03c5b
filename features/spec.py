"""Feature specs: what Vigil computes per transaction, declared once in ``config/features.yaml``.

This is the public face of the spec types (defined in :mod:`features.definitions`) and of the
spec file reader (:mod:`features.spec_file`)::

    feature_set = default_feature_set()
    feature_set.names      # the model's feature order
    feature_set.version    # content hash recorded with models and decisions
"""

from __future__ import annotations

from pathlib import Path

from config.settings import CONFIG_DIR
from core.errors import FeatureSpecError, Problem
from features.definitions import (
    ENTITY_ALIASES,
    ENTITY_FIELDS,
    FeatureSet,
    FeatureSpec,
    Measure,
    Stat,
    TransactionFeatureKind,
)
from features.spec_file import parse_feature_set

DEFAULT_FEATURES_FILE = CONFIG_DIR / "features.yaml"

__all__ = [
    "DEFAULT_FEATURES_FILE",
    "ENTITY_ALIASES",
    "ENTITY_FIELDS",
    "FeatureSet",
    "FeatureSpec",
    "Measure",
    "Stat",
    "TransactionFeatureKind",
    "default_feature_set",
    "load_feature_set",
]


def load_feature_set(path: Path) -> FeatureSet:
    """The feature set in ``path``; :class:`FeatureSpecError` gives each problem's file:line:col."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeatureSpecError(
            f"cannot read feature spec file {path}", [Problem(str(path), exc.strerror or str(exc))]
        ) from None
    return parse_feature_set(text, str(path))


def default_feature_set() -> FeatureSet:
    """The feature set shipped in ``config/features.yaml``."""
    return load_feature_set(DEFAULT_FEATURES_FILE)
