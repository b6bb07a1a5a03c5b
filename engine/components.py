"""Builds the scoring stages' parts from :class:`Settings`: feature specs, store, rules, model.

Used on Ray replicas (each deployment builds its own part) and by the in-process scorer, so both
run exactly the same objects. Everything here does I/O and is called at start-up, never at import.

The online feature store is created through an import path (``FEATURE_STORE_FACTORY``) so that the
engine depends on the :class:`~engine.contracts.OnlineFeatureStore` protocol only; the factory is
called as ``factory(redis_url, feature_set)`` and may return the store or an awaitable of it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any, cast

from config.settings import Settings
from core.errors import ConfigError, Problem
from engine.contracts import OnlineFeatureStore
from engine.model import DEFAULT_TOP_K, ArtifactEnsemble, ExplainPolicy

if TYPE_CHECKING:
    from features.spec import FeatureSet
    from rules.reload import RuleSetWatcher

FEATURE_STORE_FACTORY = "features.online:create_online_store"
"""``module:attribute`` of the online store factory: ``(redis_url, feature_set) -> store``."""


def settings_payload(settings: Settings) -> dict[str, Any]:
    """``settings`` as plain JSON-able data, to hand to Ray replicas (the controller stores it)."""
    return settings.model_dump(mode="json")


def settings_from_payload(payload: dict[str, Any]) -> Settings:
    """The :class:`Settings` that :func:`settings_payload` produced."""
    return Settings(**payload)


def require_url(settings: Settings, name: str) -> str:
    """``settings.<name>`` (``redis_url`` / ``database_url``), which must be set by now.

    ``vigil up`` fills both in (starting embedded servers when needed) before Serve starts.
    """
    value = getattr(settings, name)
    if not value:
        raise ConfigError(
            f"{name} is not set",
            [Problem(f"VIGIL_{name.upper()}", "set it, or start Vigil with `vigil up`")],
        )
    return str(value)


def load_feature_set(settings: Settings) -> FeatureSet:
    """The feature specs in ``settings.features_file``."""
    from features.spec import load_feature_set as load  # noqa: PLC0415 - start-up only

    return load(settings.features_file)


def import_object(path: str) -> Any:
    """The object at ``module.sub:attribute``; :class:`ConfigError` if it cannot be imported."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{path!r} is not an import path of the form 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} (from {path!r}): {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}") from None


async def open_feature_store(
    settings: Settings, feature_set: FeatureSet, *, factory: str = FEATURE_STORE_FACTORY
) -> OnlineFeatureStore:
    """The online feature store on ``settings.redis_url``, built by ``factory``."""
    build = import_object(factory)
    store = build(require_url(settings, "redis_url"), feature_set)
    if inspect.isawaitable(store):
        store = await store
    return cast(OnlineFeatureStore, store)


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
