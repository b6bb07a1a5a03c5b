"""Feature specs: what Vigil computes per transaction, declared once in ``config/features.yaml``.

This is the public face of the spec types (defined in :mod:`features.definitions`) and of the
spec file reader (:mod:`features.spec_file`)::

    feature_set = default_feature_set()
    feature_set.names      # the model's feature order
    feature_set.version    # content hash recorded with models and decisions
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from config.fx import FxTable, load_fx_table
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
DEFAULT_FX_FILE = CONFIG_DIR / "fx.yaml"

__all__ = [
    "DEFAULT_FEATURES_FILE",
    "DEFAULT_FX_FILE",
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


def load_feature_set(path: Path, fx: FxTable | Path = DEFAULT_FX_FILE) -> FeatureSet:
    """The feature set in ``path``, converting amounts with ``fx`` (a table, or the FX file to
    read, by default the shipped ``config/fx.yaml``); :class:`FeatureSpecError` gives each
    problem's file:line:col (:class:`~core.errors.ConfigError` for the FX file's)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeatureSpecError(
            f"cannot read feature spec file {path}", [Problem(str(path), exc.strerror or str(exc))]
        ) from None
    feature_set = parse_feature_set(text, str(path))
    table = fx if isinstance(fx, FxTable) else load_fx_table(fx)
    return msgspec.structs.replace(feature_set, fx=table)


def default_feature_set() -> FeatureSet:
    """The feature set shipped in ``config/features.yaml``, with the FX table of
    ``config/fx.yaml``."""
    return load_feature_set(DEFAULT_FEATURES_FILE, DEFAULT_FX_FILE)
