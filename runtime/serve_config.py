"""``config/serve.yaml``: read strictly, fill in what ``vigil up`` knows, change replica counts and
the models the ensemble scores with.

Ray Serve's schema accepts unknown keys (for forward compatibility), so a typo such as
``num_replica`` would silently do nothing; here every unknown key, unknown deployment name and bad
application ``args`` is an error with ``file:line:col``.

Ray is imported inside the functions: the ``RAY_*`` environment (:mod:`runtime.ray_cluster`) must be
in place before the first ``import ray`` of a process.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from config.settings import Settings
from core.admin import ModelSelection
from core.errors import ConfigError, Problem
from engine.components import settings_payload
from engine.stages import ENSEMBLE
from runtime.app_args import APP_IMPORT_PATH, DEPLOYMENT_NAMES, decode_args

if TYPE_CHECKING:
    from ray.serve.schema import ServeApplicationSchema, ServeDeploySchema


def load_serve_config(path: Path) -> dict[str, Any]:
    """The Serve config in ``path`` as plain data; :class:`ConfigError` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read Serve config {path}: {exc.strerror or exc}") from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{path} is not valid YAML", [Problem(where, str(exc.problem))]) from None
    problems = _check(root, str(path))
    if problems:
        raise ConfigError(f"invalid Serve config {path}", problems)
    plain: dict[str, Any] = _plain(root)
    _validate(plain, str(path))
    return plain


MODELS_KEY = "models"
"""The ensemble deployment's ``user_config`` key holding the :class:`ModelSelection`."""


def deploy_config(
    raw: dict[str, Any], settings: Settings, models: ModelSelection | None = None
) -> ServeDeploySchema:
    """``raw`` with the gateway address from ``settings``, the settings handed to Vigil's app and,
    when the registry has a champion or challenger, the ensemble's ``models``."""
    config = copy.deepcopy(raw)
    http = config.setdefault("http_options", {})
    http["host"], http["port"] = settings.http_host, settings.http_port
    for app in config.get("applications", []):
        if app.get("import_path") == APP_IMPORT_PATH:
            app["args"] = {**(app.get("args") or {}), "settings": settings_payload(settings)}
            if models is not None and (models.champion or models.challenger):
                _set_user_config(app, models)
    return _validate(config, "serve config")


def models_user_config(selection: ModelSelection) -> dict[str, Any]:
    """The ensemble deployment's ``user_config`` for ``selection``."""
    return {MODELS_KEY: msgspec.to_builtins(selection)}


def selection_of(user_config: Any) -> ModelSelection:
    """The :class:`ModelSelection` in an ensemble ``user_config`` (a ``ConfigError`` if bad)."""
    try:
        return msgspec.convert((user_config or {}).get(MODELS_KEY) or {}, ModelSelection)
    except (msgspec.ValidationError, AttributeError) as exc:
        raise ConfigError(f"the ensemble's user_config is not a model selection: {exc}") from None


def with_models(app: ServeApplicationSchema, selection: ModelSelection) -> ServeApplicationSchema:
    """``app`` with the ensemble deployment scoring with ``selection`` (its ``user_config``)."""
    from ray.serve.schema import DeploymentSchema  # noqa: PLC0415 - see the module docstring

    names = [d.name for d in app.deployments]
    options: dict[str, Any] = {"name": ENSEMBLE}
    if ENSEMBLE in names:
        options = app.deployments[names.index(ENSEMBLE)].model_dump(exclude_unset=True)
    options["user_config"] = models_user_config(selection)
    changed = DeploymentSchema.model_validate(options)
    updated = [changed if d.name == ENSEMBLE else d for d in app.deployments]
    if ENSEMBLE not in names:
        updated.append(changed)
    return app.model_copy(update={"deployments": updated})


def _set_user_config(app: dict[str, Any], selection: ModelSelection) -> None:
    deployments = app.setdefault("deployments", [])
    for deployment in deployments:
        if deployment.get("name") == ENSEMBLE:
            deployment["user_config"] = models_user_config(selection)
            return
    deployments.append({"name": ENSEMBLE, "user_config": models_user_config(selection)})


def with_replicas(
    app: ServeApplicationSchema, deployment: str, replicas: int
) -> ServeApplicationSchema:
    """``app`` with ``deployment`` running exactly ``replicas`` replicas.

    A deployment that autoscales stays autoscaled but is pinned (``min_replicas`` =
    ``max_replicas`` = ``replicas``): removing its ``autoscaling_config`` would change the
    application's code version in Serve's eyes and restart every replica instead of scaling.
    """
    from ray.serve.schema import DeploymentSchema  # noqa: PLC0415 - see the module docstring

    if replicas < 1:
        raise ConfigError(f"replicas must be at least 1, got {replicas}")
    if deployment not in DEPLOYMENT_NAMES:
        raise ConfigError(
            f"unknown deployment {deployment!r}; known: {', '.join(DEPLOYMENT_NAMES)}"
        )
    names = [d.name for d in app.deployments]
    options: dict[str, Any] = {"name": deployment}
    if deployment in names:
        options = app.deployments[names.index(deployment)].model_dump(exclude_unset=True)
    autoscaling = options.get("autoscaling_config")
    if isinstance(autoscaling, dict):
        pinned = {"min_replicas": replicas, "max_replicas": replicas}
        if "initial_replicas" in autoscaling:
            pinned["initial_replicas"] = replicas
        options["autoscaling_config"] = {**autoscaling, **pinned}
    else:
        options["num_replicas"] = replicas
    scaled = DeploymentSchema.model_validate(options)
    updated = [scaled if d.name == deployment else d for d in app.deployments]
    if deployment not in names:
        updated.append(scaled)
    return app.model_copy(update={"deployments": updated})


def _validate(config: dict[str, Any], source: str) -> ServeDeploySchema:
    from ray.serve.schema import ServeDeploySchema  # noqa: PLC0415 - see the module docstring

    try:
        return ServeDeploySchema.model_validate(config)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid Serve config {source}",
            [
                Problem(f"{source}:" + ".".join(str(p) for p in err["loc"]), err["msg"])
                for err in exc.errors(include_url=False)
            ],
        ) from None


def _check(root: object, source: str) -> list[Problem]:
    from ray.serve.schema import ServeApplicationSchema, ServeDeploySchema  # noqa: PLC0415

    if not isinstance(root, CommentedMap):
        return [Problem(source, "must be a mapping with an `applications` list")]
    problems = _unknown_keys(root, ServeDeploySchema, source)
    apps = root.get("applications")
    if not isinstance(apps, CommentedSeq):
        return [*problems, Problem(_at(root, "applications", source), "must be a list")]
    for index, app in enumerate(apps):
        if not isinstance(app, CommentedMap):
            problems.append(Problem(_item(apps, index, source), "must be a mapping"))
            continue
        problems.extend(_unknown_keys(app, ServeApplicationSchema, source))
        if app.get("import_path") == APP_IMPORT_PATH:
            problems.extend(_check_vigil_app(app, source))
    return problems


def _check_vigil_app(app: CommentedMap, source: str) -> list[Problem]:
    from ray.serve.schema import DeploymentSchema  # noqa: PLC0415

    problems: list[Problem] = []
    try:
        decode_args(_plain(app.get("args")))
    except ConfigError as exc:
        problems.extend(Problem(_at(app, "args", source), p.message) for p in exc.problems)
    deployments = app.get("deployments") or []
    if not isinstance(deployments, CommentedSeq):
        return [*problems, Problem(_at(app, "deployments", source), "must be a list")]
    for index, deployment in enumerate(deployments):
        if not isinstance(deployment, CommentedMap):
            problems.append(Problem(_item(deployments, index, source), "must be a mapping"))
            continue
        problems.extend(_unknown_keys(deployment, DeploymentSchema, source))
        name = deployment.get("name")
        if name not in DEPLOYMENT_NAMES:
            problems.append(
                Problem(
                    _at(deployment, "name", source),
                    f"unknown deployment {name!r}; known: {', '.join(DEPLOYMENT_NAMES)}",
                )
            )
    return problems


def _unknown_keys(node: CommentedMap, schema: type[BaseModel], source: str) -> list[Problem]:
    known = set(schema.model_fields)
    return [
        Problem(_at(node, key, source), f"unknown key {key!r}; known: {', '.join(sorted(known))}")
        for key in node
        if key not in known
    ]


def _at(node: CommentedMap, key: str, source: str) -> str:
    if key in node:
        line, column = node.lc.key(key)
        return f"{source}:{line + 1}:{column + 1}"
    return f"{source}:{node.lc.line + 1}:{node.lc.col + 1}"


def _item(node: CommentedSeq, index: int, source: str) -> str:
    line, column = node.lc.item(index)
    return f"{source}:{line + 1}:{column + 1}"


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
