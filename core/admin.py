"""The admin API's shapes: deployments, their replica counts, scaling, rule-set versions, the
model registry.

``runtime`` produces them from the live Serve application, ``serving`` returns them as the
``/v1/admin`` routes' wire form (``serving.operations.Operations``), and clients read them back.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class ReplicaCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many replicas a deployment should run, and how many run now."""

    target: int
    running: int


class DeploymentInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One Serve deployment as an operator sees it."""

    name: str
    status: str
    """Serve's deployment status: ``HEALTHY``, ``UPDATING``, ``UPSCALING``, ``UNHEALTHY``, ..."""
    replicas: ReplicaCounts
    message: str
    """Serve's explanation when something is wrong (empty otherwise)."""


class ScaleAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """A replica count change handed to Serve; the replicas start (or stop) after the answer."""

    name: str
    target: int


class RuleVersions(msgspec.Struct, frozen=True, kw_only=True):
    """The rule-set version each ``rules`` replica scores with, and the one they all agree on."""

    versions: dict[str, str]
    """Replica id → rule-set version."""
    active: str | None = None
    """The version every replica reports; ``None`` while they differ or none reports."""

    def all_at(self, version: str) -> bool:
        """Whether at least one replica reports and every replica reports ``version``."""
        return bool(self.versions) and all(v == version for v in self.versions.values())

    def behind(self, version: str) -> dict[str, str]:
        """Replicas not yet at ``version``, with the version they report."""
        return {r: v for r, v in sorted(self.versions.items()) if v != version}


class ModelRole(enum.StrEnum):
    """What a registered model version does on live traffic."""

    CHAMPION = "champion"
    """Decides: its score is the decision's model score."""
    CHALLENGER = "challenger"
    """Scored in shadow on every transaction; its scores are stored, never acted on."""


class ModelRef(msgspec.Struct, frozen=True, kw_only=True):
    """Which artifact an ensemble replica loads: its version, where it is, its checksum."""

    version: str
    artifact_dir: str
    checksum: str
    """SHA-256 of the artifact's ``manifest.json``, which holds the SHA-256 of every other file."""


class ModelSelection(msgspec.Struct, frozen=True, kw_only=True):
    """The models live traffic is scored with; ``None`` champion: the configured ``model_dir``."""

    champion: ModelRef | None = None
    challenger: ModelRef | None = None


class ModelVersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One registered model version as the registry shows it."""

    version: str
    artifact_dir: str
    checksum: str
    feature_spec_version: str
    role: ModelRole | None
    metrics: dict[str, float | None]
    """The artifact's evaluation metrics (average precision, recall at the thresholds, ...)."""
    training: dict[str, str | None]
    """The training window the artifact records (``train_start``, ``test_end``, ...)."""
    registered_at: datetime
    registered_by: str
    promoted_at: datetime | None = None
    promoted_by: str | None = None


class ModelEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change of the registry: a registration, promotion, rollback or challenger change."""

    version: str
    action: str
    actor: str
    at: datetime
    previous_champion: str | None = None


class ModelRegistryView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/admin/models``: every registered version, newest first, and the live selection."""

    models: list[ModelVersionInfo]
    selection: ModelSelection
    history: list[ModelEvent]
    """The most recent registry changes, newest first."""
