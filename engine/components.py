"""Builds the scoring stages from :class:`Settings`: feature specs, store, rules, model.

:func:`open_stage` is the one builder: Ray replicas (each builds the stage it hosts) and the
in-process scorer call it, so both run exactly the same objects. Everything here does I/O and is
called at start-up, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from config.fx import FxTable, load_fx_table
from config.settings import Settings
from core.admin import ModelRef, ModelSelection
from core.errors import ConfigError, ModelArtifactError
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
    """The feature specs in ``settings.features_file``, converting amounts with the FX table in
    ``settings.fx_file``."""
    from features.spec import load_feature_set as load  # noqa: PLC0415 - start-up only

    return load(settings.features_file, settings.fx_file)


async def open_feature_store(settings: Settings, feature_set: FeatureSet) -> FeatureStage:
    """The features stage over the online store on ``settings.redis_url``."""
    from features.online import create_online_store  # noqa: PLC0415 - start-up only

    store = await create_online_store(require_url(settings, "redis_url"), feature_set)
    return FeatureStage(store, feature_set.fx)


def watch_rules(
    settings: Settings, feature_names: tuple[str, ...], fx: FxTable | None = None
) -> RuleSetWatcher:
    """A watcher holding the rule set in ``settings.rules_dir`` (raises if it does not load);
    rules read ``txn.amount_base`` converted with ``fx`` (default: ``settings.fx_file``)."""
    from rules.reload import RuleSetWatcher  # noqa: PLC0415 - start-up only

    table = fx if fx is not None else load_fx_table(settings.fx_file)
    return RuleSetWatcher(settings.rules_dir, feature_names, fx=table)


def load_model(
    settings: Settings,
    feature_names: tuple[str, ...],
    *,
    fx_version: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    explain: ExplainPolicy = "risky",
) -> ArtifactEnsemble:
    """The artifact in ``settings.model_dir``, checked against the spec-derived feature names
    and, when the manifest records one, the FX table version (``fx_version``)."""
    from artifacts import load_artifact  # noqa: PLC0415 - start-up only (imports xgboost)

    model = load_artifact(settings.model_dir, feature_names, expected_fx_version=fx_version)
    if fx_version is not None and model.manifest.fx_version is None:
        structlog.get_logger(__name__).warning(
            "model_fx_version_unknown",
            model_dir=str(settings.model_dir),
            model_version=model.manifest.version,
            fx_version=fx_version,
            note="the artifact records no FX table: it was trained before amounts were "
            "converted to the base currency; retrain it",
        )
    return ArtifactEnsemble(model, top_k=top_k, explain=explain)


def select_models(
    stage: EnsembleStage,
    selection: ModelSelection,
    settings: Settings,
    options: StageOptions | None = None,
) -> None:
    """Load the champion and challenger ``selection`` names, then swap them into ``stage``.

    Both load before anything changes: an artifact that fails to load raises and leaves the
    stage scoring as before. No champion means the configured ``model_dir``.
    """
    options = options or StageOptions()
    feature_set = load_feature_set(settings)
    names, fx_version = feature_set.names, feature_set.fx_version
    champion = (
        load_model(
            settings, names, fx_version=fx_version, top_k=options.top_k, explain=options.explain
        )
        if selection.champion is None
        else load_registered_model(
            selection.champion,
            names,
            fx_version=fx_version,
            top_k=options.top_k,
            explain=options.explain,
        )
    )
    challenger = (
        None
        if selection.challenger is None
        else load_registered_model(
            selection.challenger, names, fx_version=fx_version, top_k=0, explain="none"
        )
    )
    stage.use(champion, challenger)


def load_registered_model(
    ref: ModelRef,
    feature_names: tuple[str, ...],
    *,
    fx_version: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    explain: ExplainPolicy = "risky",
) -> ArtifactEnsemble:
    """The registered artifact ``ref`` names, refused unless its checksum and version match
    (and its FX table, when it records one)."""
    from artifacts import load_pinned_artifact  # noqa: PLC0415 - start-up only (imports xgboost)

    loaded = load_pinned_artifact(
        Path(ref.artifact_dir), ref.checksum, feature_names, expected_fx_version=fx_version
    )
    if loaded.version != ref.version:
        raise ModelArtifactError(
            f"{ref.artifact_dir}: holds model {loaded.version}, the registry says {ref.version}"
        )
    return ArtifactEnsemble(loaded, top_k=top_k, explain=explain)


async def open_stage(name: str, settings: Settings, options: StageOptions | None = None) -> Stage:
    """The stage called ``name`` (``features``, ``rules`` or ``ensemble``), built from settings."""
    options = options or StageOptions()
    feature_set = load_feature_set(settings)
    if name == FEATURES:
        return await open_feature_store(settings, feature_set)
    if name == RULES:
        watcher = watch_rules(settings, feature_set.names, feature_set.fx)
        return RuleStage(lambda: watcher.current, watcher.poll)
    if name == ENSEMBLE:
        model = load_model(
            settings,
            feature_set.names,
            fx_version=feature_set.fx_version,
            top_k=options.top_k,
            explain=options.explain,
        )
        return EnsembleStage(model)
    raise ConfigError(f"no stage is called {name!r}; stages: {FEATURES}, {RULES}, {ENSEMBLE}")
