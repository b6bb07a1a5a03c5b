"""Builds the scoring stages from :class:`Settings`: feature specs, store, rules, model.

:func:`open_stage` is the one builder: Ray replicas (each builds the stage it hosts) and the
in-process scorer call it, so both run exactly the same objects. Everything here does I/O and is
called at start-up, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from core.errors import ConfigError
from engine.model import DEFAULT_TOP_K, ArtifactEnsemble, ExplainPolicy
from engine.stages import ENSEMBLE, FEATURES, RULES, EnsembleStage, FeatureStage, RuleStage
from storage.urls import require_url

if TYPE_CHECKING:
    from features.spec import FeatureSet
    from rules.reload import RuleSetWatcher

Stage = FeatureStage | RuleStage | EnsembleStage


@dataclass(frozen=True, slots=True)
class StageOptions:
    """How stages are built, beyond the settings."""

    top_k: int = DEFAULT_TOP_K
    """Feature contributions kept per explained row."""
    explain: ExplainPolicy = "risky"
    """Which rows get contributions (:mod:`engine.model`)."""


def settings_payload(settings: Settings) -> dict[str, Any]:
    """``settings`` as plain JSON-able data, to hand to Ray replicas (the controller stores it)."""
    return settings.model_dump(mode="json")


def settings_from_payload(payload: dict[str, Any]) -> Settings:
    """The :class:`Settings` that :func:`settings_payload` produced."""
    return Settings(**payload)


def load_feature_set(settings: Settings) -> FeatureSet:
    """The feature specs in ``settings.features_file``."""
    from features.spec import load_feature_set as load  # noqa: PLC0415 - start-up only

    return load(settings.features_file)


async def open_feature_store(settings: Settings, feature_set: FeatureSet) -> FeatureStage:
    """The features stage over the online store on ``settings.redis_url``."""
    from features.online import create_online_store  # noqa: PLC0415 - start-up only

    return FeatureStage(await create_online_store(require_url(settings, "redis_url"), feature_set))


def watch_rules(settings: Settings, feature_names: tuple[str, ...]) -> RuleSetWatcher:
    """A watcher holding the rule set in ``settings.rules_dir`` (raises if it does not load)."""
    from rules.reload import RuleSetWatcher  # noqa: PLC0415 - start-up only

    return RuleSetWatcher(settings.rules_dir, feature_names)


def load_model(
    settings: Settings,
    feature_names: tuple[str, ...],
    *,
    top_k: int = DEFAULT_TOP_K,
    explain: ExplainPolicy = "risky",
) -> ArtifactEnsemble:
    """The artifact in ``settings.model_dir``, checked against the spec-derived feature names."""
    from artifacts import load_artifact  # noqa: PLC0415 - start-up only (imports xgboost)

    return ArtifactEnsemble(
        load_artifact(settings.model_dir, feature_names), top_k=top_k, explain=explain
    )


async def open_stage(name: str, settings: Settings, options: StageOptions | None = None) -> Stage:
    """The stage called ``name`` (``features``, ``rules`` or ``ensemble``), built from settings."""
    options = options or StageOptions()
    feature_set = load_feature_set(settings)
    if name == FEATURES:
        return await open_feature_store(settings, feature_set)
    if name == RULES:
        watcher = watch_rules(settings, feature_set.names)
        return RuleStage(lambda: watcher.current, watcher.poll)
    if name == ENSEMBLE:
        model = load_model(
            settings, feature_set.names, top_k=options.top_k, explain=options.explain
        )
        return EnsembleStage(lambda: model)
    raise ConfigError(f"no stage is called {name!r}; stages: {FEATURES}, {RULES}, {ENSEMBLE}")
