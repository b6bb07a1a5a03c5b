"""``vigil models list|register|promote|rollback|challenger|compare``: the model registry.

The registry lives in PostgreSQL (:mod:`storage.model_registry`; ``database_url`` from the
settings, or the running embedded PostgreSQL under ``data_dir``). ``register`` reads an artifact
directory, checks it loads against the configured feature specs and records its checksum, metrics
and training window. ``promote``, ``rollback`` and ``challenger`` change which model decides and
which one is scored in shadow:

* with ``--gateway URL`` (and ``--api-key`` holding the ``admin`` scope) through the running
  engine, which checks the model loads, records the change and swaps it in on every ensemble
  replica without dropping a request;
* without it, in the registry only: the engine loads the change at its next start (or
  ``POST /v1/admin/models/apply``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cli.context import CliState
from cli.database import login, run_on_database
from core.errors import DependencyUnavailableError, InvalidInputError, Problem

if TYPE_CHECKING:
    from artifacts.manifest import Manifest
    from core.admin import ModelSelection, ModelVersionInfo
    from features.spec import FeatureSet
    from storage.model_registry import ModelRegistry, NewModel

T = TypeVar("T")
models_app = typer.Typer(
    name="models",
    help="The model registry: register artifacts, promote or roll back the champion, run a "
    "challenger in shadow, compare them on labelled outcomes.",
    no_args_is_help=True,
)
GatewayOption = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        help="Apply the change through this running gateway (checked, recorded and swapped in "
        "on every ensemble replica); without it the registry alone changes and the engine loads "
        "it at its next start.",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="VIGIL_API_KEY",
        help="API key with the admin scope, for --gateway.",
        show_default=False,
    ),
]
_METRIC_BLOCKS = ("test", "validation")
_METRIC_NAMES = (
    "average_precision",
    "roc_auc",
    "review_recall",
    "review_precision",
    "review_alert_rate",
    "block_precision",
)


def register(app: typer.Typer) -> None:
    """Add the ``vigil models`` subcommands to ``app``."""
    app.add_typer(models_app, name="models")


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every registered model, newest first: role, test metrics, training window."""
    models = _run(ctx, lambda registry: registry.models())
    if not models:
        typer.echo("no registered models (vigil models register DIR)")
        return
    for model in models:
        typer.echo(_describe(model))


@models_app.command("register")
def register_model(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(help="Model artifact directory (vigil train --out).", file_okay=False),
    ],
) -> None:
    """Record an artifact in the registry (its files must stay where they are: the engine
    loads them from there and refuses them if they change)."""
    entry = registry_entry(directory, _feature_set(ctx))
    by = f"cli:{login()}"
    info, created = _run(ctx, lambda registry: registry.register(entry, by=by))
    typer.echo(("registered " if created else "already registered ") + _describe(info))


@models_app.command("promote")
def promote_model(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Registered model version.")],
    gateway: GatewayOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Make VERSION the champion: its scores decide."""
    _check_key(gateway, api_key)
    if gateway:
        selection = _through_gateway(gateway, api_key, lambda c: c.promote_model(version))
    else:
        selection = _run(ctx, lambda registry: registry.promote(version, by=f"cli:{login()}"))
    _report(selection, live=bool(gateway))


@models_app.command("rollback")
def rollback_model(
    ctx: typer.Context, gateway: GatewayOption = None, api_key: ApiKeyOption = None
) -> None:
    """Give the champion role back to the model the current champion replaced."""
    _check_key(gateway, api_key)
    if gateway:
        selection = _through_gateway(gateway, api_key, lambda c: c.rollback_model())
    else:
        selection = _run(ctx, lambda registry: registry.rollback(by=f"cli:{login()}"))
    _report(selection, live=bool(gateway))


@models_app.command("challenger")
def set_challenger(
    ctx: typer.Context,
    version: Annotated[
        str | None,
        typer.Argument(help="Registered model version to score in shadow.", show_default=False),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Stop shadow scoring.")] = False,
    gateway: GatewayOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Score VERSION in shadow on live traffic (stored, never acted on), or --clear."""
    if (version is None) == (not clear):
        raise InvalidInputError(
            "cannot set the challenger",
            [Problem("VERSION / --clear", "give a version, or --clear to stop (not both)")],
        )
    _check_key(gateway, api_key)
    if gateway:
        selection = _through_gateway(gateway, api_key, lambda c: c.set_challenger(version))
    else:
        selection = _run(
            ctx, lambda registry: registry.set_challenger(version, by=f"cli:{login()}")
        )
    _report(selection, live=bool(gateway))


@models_app.command("compare")
def compare_models(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only transactions decided at or after this ISO 8601 date-time (default: all).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Champion vs challenger on the labelled transactions the challenger scored in shadow."""
    from storage.shadow import compare, shadow_outcomes  # noqa: PLC0415

    start = _parse_since(since)
    comparisons = compare(run_on_database(ctx, lambda engine: shadow_outcomes(engine, since=start)))
    if not comparisons:
        typer.echo("no shadow scores yet (vigil models challenger VERSION --gateway URL)")
        return
    for comparison in comparisons:
        for line in comparison.lines():
            typer.echo(line)


def registry_entry(directory: Path, feature_set: FeatureSet) -> NewModel:
    """What registering ``directory`` records; raises if the artifact does not load with
    ``feature_set`` (its names, and its FX table when the artifact records one)."""
    from artifacts import artifact_checksum, load_artifact  # noqa: PLC0415 - imports xgboost
    from storage.model_registry import NewModel  # noqa: PLC0415

    resolved = directory.resolve()
    loaded = load_artifact(resolved, feature_set.names, expected_fx_version=feature_set.fx_version)
    manifest = loaded.manifest
    return NewModel(
        version=manifest.version,
        artifact_dir=str(resolved),
        checksum=artifact_checksum(resolved),
        feature_spec_version=manifest.feature_spec_version,
        metrics=_metrics(manifest),
        training=_training(manifest),
    )


def _metrics(manifest: Manifest) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for block in _METRIC_BLOCKS:
        ensemble = manifest.metrics.get(block, {}).get("ensemble")
        if ensemble is None:
            continue
        for name in _METRIC_NAMES:
            out[f"{block}_{name}"] = getattr(ensemble, name)
    return out


def _training(manifest: Manifest) -> dict[str, str | None]:
    split = manifest.split

    def text(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "mode": split.mode,
        "fit_start": text(split.fit.start),
        "fit_end": text(split.fit.end),
        "test_start": text(split.test.start),
        "test_end": text(split.test.end),
        "labels_known_by": text(split.labels_known_by),
    }


def _describe(model: ModelVersionInfo) -> str:
    role = model.role.value if model.role else "-"
    ap = _number(model.metrics, "test_average_precision")
    recall = _number(model.metrics, "test_review_recall")
    rate = _number(model.metrics, "test_review_alert_rate", percent=True)
    window = f"{_day(model.training.get('fit_start'))}..{_day(model.training.get('test_end'))}"
    return (
        f"{model.version}  {role:<10}  AP {ap}  review recall {recall} at {rate} alerts  "
        f"trained {window}  registered {model.registered_at:%Y-%m-%d %H:%M} by "
        f"{model.registered_by}  {model.artifact_dir}"
    )


def _number(metrics: Mapping[str, float | None], name: str, *, percent: bool = False) -> str:
    value = metrics.get(name)
    if value is None:
        return "n/a"
    return f"{value:.2%}" if percent else f"{value:.3f}"


def _day(value: str | None) -> str:
    return value[:10] if value else "?"


def _report(selection: ModelSelection, *, live: bool) -> None:
    champion = selection.champion.version if selection.champion else "(configured model_dir)"
    challenger = selection.challenger.version if selection.challenger else "none"
    typer.echo(f"champion {champion}, challenger {challenger}")
    if not live:
        typer.echo(
            "recorded in the registry; a running engine loads it at its next start, or now with "
            "POST /v1/admin/models/apply (or run this command with --gateway URL)",
            err=True,
        )


def _check_key(gateway: str | None, api_key: str | None) -> None:
    if api_key and not gateway:
        raise InvalidInputError(
            "cannot change the registry",
            [Problem("--api-key", "is for --gateway; without it the change goes to PostgreSQL")],
        )


def _through_gateway(
    url: str, api_key: str | None, call: Callable[[Any], Awaitable[ModelSelection]]
) -> ModelSelection:
    from client.gateway import GatewayClient, GatewayUnavailable  # noqa: PLC0415

    async def go() -> ModelSelection:
        async with GatewayClient(url, api_key=api_key, timeout_s=120.0) as client:
            try:
                return await call(client)
            except GatewayUnavailable as exc:
                raise DependencyUnavailableError(str(exc)) from None

    return asyncio.run(go())


def _feature_set(ctx: typer.Context) -> FeatureSet:
    from engine.components import load_feature_set  # noqa: PLC0415

    state = ctx.find_object(CliState) or CliState()
    return load_feature_set(state.settings)


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        parsed = datetime.fromisoformat(since)
    except ValueError:
        raise InvalidInputError(
            "cannot compare", [Problem("--since", f"{since!r} is not an ISO 8601 date-time")]
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInputError(
            "cannot compare", [Problem("--since", "needs a UTC offset, e.g. 2026-12-01T00:00Z")]
        )
    return parsed


def _run(ctx: typer.Context, action: Callable[[ModelRegistry], Awaitable[T]]) -> T:
    """Run ``action`` on the registry of the configured database."""
    from storage.model_registry import ModelRegistry  # noqa: PLC0415

    return run_on_database(ctx, lambda engine: action(ModelRegistry(engine)))
