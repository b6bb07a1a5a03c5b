"""The arguments of the Serve application (``args`` in ``config/serve.yaml``), strictly typed.

``serve run`` / ``serve deploy`` hand ``args`` to :func:`runtime.graph.app_builder`, which decodes
them into :class:`EngineArgs`; unknown keys and wrong types are errors naming the key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from config.settings import Settings, load_settings
from core.errors import ConfigError, Problem
from engine.batching import BatchingOptions
from engine.components import settings_from_payload
from engine.contracts import Thresholds
from engine.degraded import DegradedPolicies
from engine.pipeline import DEFAULT_THRESHOLDS, PipelineOptions
from storage.stream import DEFAULT_REPLAY_WINDOW_S

APP_IMPORT_PATH = "runtime.graph:app_builder"
"""The application builder's import path, as written in ``config/serve.yaml``."""
APP_NAME = "vigil"
"""The Serve application's name."""
DEPLOYMENT_NAMES = ("gateway", "features", "rules", "ensemble")
"""Every deployment of the application, ingress first (bound in :mod:`runtime.graph`)."""


class EngineArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the deployments are built with, besides their Serve options."""

    settings: dict[str, Any] | None = None
    """A full settings payload (``vigil up`` passes one); when absent, ``config_file`` is read."""
    config_file: str | None = None
    """A settings YAML file read on the controller (plus ``VIGIL_*`` variables there)."""
    batch_max_size: int = 64
    batch_max_wait_ms: float = 2.0
    batch_max_in_flight: int = 4
    stage_timeout_s: float = 2.0
    stage_timeouts_s: dict[Literal["features", "rules", "ensemble", "decision_stream"], float] = (
        msgspec.field(default_factory=dict)
    )
    """Per-stage deadlines replacing ``stage_timeout_s`` for the stages named."""
    degraded: DegradedPolicies = msgspec.field(default_factory=DegradedPolicies)
    """What each stage's failure does to the decision (:mod:`engine.degraded`)."""
    idempotency_window_s: Annotated[float, msgspec.Meta(gt=0)] = DEFAULT_REPLAY_WINDOW_S
    """How long a decision is kept for retries of its ``transaction_id`` (:mod:`engine.replay`)."""
    fallback_review: float = DEFAULT_THRESHOLDS.review
    fallback_block: float = DEFAULT_THRESHOLDS.block
    explain: Literal["all", "risky", "none"] = "risky"
    top_k: int = 5
    rules_poll_interval_s: float = 1.0
    max_replicas: Annotated[int, msgspec.Meta(ge=1)] = 4
    """The most replicas the admin API may set a deployment to (``vigil scale`` is not capped)."""

    def resolve_settings(self) -> Settings:
        """The settings the deployments run with."""
        if self.settings is not None:
            return settings_from_payload(self.settings)
        from pathlib import Path  # noqa: PLC0415 - only for this branch

        return load_settings(Path(self.config_file) if self.config_file else None)

    def pipeline_options(self) -> PipelineOptions:
        """Batching, timeouts and fallback thresholds of the gateway's pipeline."""
        return PipelineOptions(
            batching=BatchingOptions(
                max_batch_size=self.batch_max_size,
                max_wait_s=self.batch_max_wait_ms / 1000.0,
                max_in_flight=self.batch_max_in_flight,
            ),
            stage_timeout_s=self.stage_timeout_s,
            stage_timeouts_s={str(stage): s for stage, s in self.stage_timeouts_s.items()},
            degraded=self.degraded,
            fallback_thresholds=Thresholds(review=self.fallback_review, block=self.fallback_block),
        )


def decode_args(args: dict[str, Any] | None) -> EngineArgs:
    """``args`` from the Serve config as :class:`EngineArgs`; :class:`ConfigError` if wrong."""
    try:
        decoded = msgspec.convert(args or {}, EngineArgs)
        decoded.pipeline_options()
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError("invalid Serve application args", [Problem("args", str(exc))]) from None
    return decoded
