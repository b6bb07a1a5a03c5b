"""The manifest of a model artifact: what was trained, on what, how well, and which files it owns.

``manifest.json`` is the only file of an artifact a person needs to read. It is a strict msgspec
Struct (unknown fields are errors) so that a hand-edited or foreign manifest is rejected with the
field that is wrong, and every file of the artifact is listed with its SHA-256 so that a corrupt or
swapped file is caught at load time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from core.errors import ModelArtifactError

FORMAT_VERSION: Final = 1
"""Bumped whenever the on-disk layout changes incompatibly."""
MANIFEST_FILE: Final = "manifest.json"
XGBOOST_FILE: Final = "xgboost.ubj"
ISOLATION_FOREST_FILE: Final = "isolation_forest.npz"
MODEL_NAMES: Final = ("xgboost", "isolation_forest", "ensemble")
"""The three scores every artifact produces, in the order reports show them."""


class FileDigest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Checksum and size of one file of the artifact."""

    sha256: str
    size_bytes: int


class DataSummary(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rows, frauds, time range and rows per scenario of one block of data."""

    rows: int
    frauds: int
    start: datetime | None
    end: datetime | None
    scenarios: dict[str, int]


class DataSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the training data came from."""

    kind: str
    """``file`` (``vigil train --data``) or ``database`` (``vigil train --from-db``: the stored
    transactions and their labels, features recomputed with the current spec)."""
    location: str
    """The file's path, or the database URL without its password."""


class SplitSummary(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the dataset was cut in time: train (fit + validation tail), label-delay gap, test."""

    gap_days: float
    test_fraction: float
    validation_fraction: float
    test_start: datetime
    """First event time of the test block; rows at or after it are test rows."""
    gap_start: datetime
    """Rows in [gap_start, test_start) were used for nothing (their labels are not mature)."""
    fit: DataSummary
    validation: DataSummary
    gap: DataSummary
    test: DataSummary
    mode: str = "fractions"
    """``fractions`` (test = latest share of rows) or ``windows`` (explicit train and test dates);
    in ``windows`` mode ``test_fraction`` is the test block's observed share of rows."""
    train_start: datetime | None = None
    """Windows mode: first instant of the train block; earlier rows are feature history only."""
    test_end: datetime | None = None
    """Windows mode: end (exclusive) of the test block; later rows are unused."""
    label_delay_days: float = 0.0
    """Delay added to event times for rows without a ``label_known_at``."""
    labels_known_by: datetime | None = None
    """Train rows count only when their label was known by then (the end of the train block)."""
    unlabelled: DataSummary | None = None
    """Train-block rows whose label was not yet known by ``labels_known_by`` (not trained on)."""
    outside: DataSummary | None = None
    """Windows mode: rows before the train block or after the test block (feature history)."""


class XGBoostInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The gradient-boosted trees: requested and effective parameters, and the rounds kept."""

    params: dict[str, str | int | float | bool]
    """Parameters as requested by training."""
    effective_config: dict[str, str]
    """Every parameter XGBoost actually used (``Booster.save_config`` flattened to dotted keys)."""
    base_score: float
    num_boost_round: int
    early_stopping_rounds: int
    best_iteration: int
    n_trees: int


class IsolationForestInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The isolation forest: its parameters and what it was fitted on."""

    n_estimators: int
    max_samples: int
    max_features: float
    max_depth: int
    random_state: int
    trained_on: str
    training_rows: int


class EnsembleSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the two model scores combine into one calibrated fraud probability.

    ``ensemble = sigmoid(intercept + xgboost_weight * xgboost_margin
    + isolation_forest_weight * isolation_forest_score)``; see :mod:`artifacts.ensemble`.
    """

    method: str
    intercept: float
    xgboost_weight: float
    isolation_forest_weight: float
    fitted_rows: int
    fitted_frauds: int


class Thresholds(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Suggested score thresholds: ``score >= review`` → review, ``score >= block`` → block."""

    review: float
    block: float
    review_policy: str
    block_policy: str


class ThresholdPolicyInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the thresholds were chosen (the same policy for every score).

    ``review`` is ``recall`` (the highest threshold reaching ``review_recall`` of validation
    frauds) or ``capacity`` (the lowest threshold whose expected alerts per day, review and block
    together, stay within ``reviews_per_day``). Expected alerts per day are the alert rate on the
    ``volume_rows`` rows of the validation period (labelled or not) times ``rows_per_day``, the
    train block's mean traffic.
    """

    review: str
    review_recall: float | None
    reviews_per_day: float | None
    block_precision: float
    min_block_support: int
    volume_rows: int
    rows_per_day: float


class ModelMetrics(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Quality of one score on one block of data (``None`` when undefined, e.g. one class).

    Alert rates are the share of the block's rows at or above each threshold; alerts per day
    are that count over the block's length in days (on validation, the expected ones: the alert
    rate on every row of the validation period times the train block's rows per day, see
    :class:`ThresholdPolicyInfo`).
    """

    rows: int
    frauds: int
    roc_auc: float | None
    average_precision: float | None
    review_precision: float | None
    review_recall: float | None
    block_precision: float | None
    block_recall: float | None
    review_alert_rate: float | None = None
    block_alert_rate: float | None = None
    review_alerts_per_day: float | None = None
    block_alerts_per_day: float | None = None


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything known about one trained model artifact."""

    format_version: int
    version: str
    created_at: datetime
    feature_names: list[str]
    feature_spec_version: str
    seed: int
    data: DataSummary
    split: SplitSummary
    xgboost: XGBoostInfo
    isolation_forest: IsolationForestInfo
    ensemble: EnsembleSpec
    thresholds: dict[str, Thresholds]
    """Per score name (``MODEL_NAMES``); the engine decides with ``thresholds["ensemble"]``."""
    metrics: dict[str, dict[str, ModelMetrics]]
    """Per block (``validation``, ``test``), per score name; validation holds the expected
    alert rate, precision and recall at the chosen thresholds."""
    libraries: dict[str, str]
    files: dict[str, FileDigest]
    threshold_policy: ThresholdPolicyInfo | None = None
    """How ``thresholds`` were chosen (absent in artifacts written before it was recorded)."""
    fx_version: str | None = None
    """The version of the FX table the training amounts were converted with (``config/fx.yaml``,
    also part of ``feature_spec_version``); an engine converting with another table refuses the
    artifact. Absent in artifacts trained before amounts were converted to a base currency."""
    data_source: DataSource | None = None
    """Where ``data`` came from (absent in artifacts written before it was recorded)."""


def encode_manifest(manifest: Manifest) -> bytes:
    """The manifest as indented, newline-terminated JSON."""
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"


def decode_manifest(raw: bytes, *, source: str) -> Manifest:
    """Parse a manifest; raise :class:`ModelArtifactError` naming ``source`` and the bad field."""
    try:
        manifest = msgspec.json.decode(raw, type=Manifest)
    except msgspec.ValidationError as exc:
        raise ModelArtifactError(f"{source}: invalid manifest: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ModelArtifactError(f"{source}: not valid JSON: {exc}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise ModelArtifactError(
            f"{source}: format_version {manifest.format_version} is not supported "
            f"(this Vigil reads format_version {FORMAT_VERSION})"
        )
    if manifest.created_at.tzinfo is None:
        raise ModelArtifactError(f"{source}: created_at must carry a timezone")
    missing = [name for name in MODEL_NAMES if name not in manifest.thresholds]
    if missing:
        raise ModelArtifactError(f"{source}: thresholds lack {', '.join(missing)}")
    return manifest
