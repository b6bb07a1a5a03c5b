"""Models: the model registry (champion, challenger, every version), the champion against the
challenger on labelled live traffic, and the deciding artifact's manifest, metrics and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import msgspec
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from sqlalchemy.exc import SQLAlchemyError

from core.admin import ModelRegistryView, ModelVersionInfo
from core.errors import ModelArtifactError
from storage.analytics import ServedVersions
from storage.shadow import ShadowComparison
from ui import auth
from ui.format import DASH, ago
from ui.layout import frame
from ui.model_catalog import MetricRow, ModelInfo, load_model_info
from ui.services import UiServices

SCORE_TITLES: Final = {
    "xgboost": "XGBoost",
    "isolation_forest": "Isolation Forest",
    "ensemble": "Ensemble (decides)",
}
COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "score", "label": "Score", "field": "score", "align": "left"},
    {"name": "roc_auc", "label": "ROC AUC", "field": "roc_auc"},
    {"name": "average_precision", "label": "Avg precision", "field": "average_precision"},
    {"name": "review", "label": "Review P / R", "field": "review"},
    {"name": "review_threshold", "label": "Review at", "field": "review_threshold"},
    {"name": "block", "label": "Block P / R", "field": "block"},
    {"name": "block_threshold", "label": "Block at", "field": "block_threshold"},
]


REGISTRY_COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "version", "label": "Version", "field": "version", "align": "left"},
    {"name": "role", "label": "Role", "field": "role", "align": "left"},
    {"name": "ap", "label": "Test AP", "field": "ap"},
    {"name": "recall", "label": "Review recall", "field": "recall"},
    {"name": "rate", "label": "Alert rate", "field": "rate"},
    {"name": "window", "label": "Trained", "field": "window", "align": "left"},
    {"name": "registered", "label": "Registered", "field": "registered", "align": "left"},
    {"name": "promoted", "label": "Promoted", "field": "promoted", "align": "left"},
]
COMPARISON_COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "role", "label": "", "field": "role", "align": "left"},
    {"name": "version", "label": "Version", "field": "version", "align": "left"},
    {"name": "ap", "label": "Avg precision", "field": "ap"},
    {"name": "auc", "label": "ROC AUC", "field": "auc"},
    {"name": "recall", "label": "Recall at equal alerts", "field": "recall"},
    {"name": "precision", "label": "Precision at equal alerts", "field": "precision"},
]


def metric_row(row: MetricRow) -> dict[str, str]:
    """One score's metrics as table cells (three decimals; a dash when undefined)."""
    return {
        "score": SCORE_TITLES.get(row.score, row.score),
        "roc_auc": _num(row.roc_auc),
        "average_precision": _num(row.average_precision),
        "review": f"{_num(row.review_precision)} / {_num(row.review_recall)}",
        "review_threshold": _num(row.review_threshold, 4),
        "block": f"{_num(row.block_precision)} / {_num(row.block_recall)}",
        "block_threshold": _num(row.block_threshold, 4),
    }


def register(services: UiServices) -> None:
    """Add ``/models``."""

    @ui.page("/models")
    async def models_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="models", title="Models"):
            try:
                registry = await services.registry.view()
                comparisons = await services.shadow.comparisons()
            except (SQLAlchemyError, OSError):
                registry, comparisons = None, []
            champion = registry.selection.champion if registry is not None else None
            model_dir = Path(champion.artifact_dir) if champion else services.model_dir
            try:
                info = load_model_info(model_dir)
            except ModelArtifactError as exc:
                ui.label("Models").classes("text-2xl font-bold")
                ui.label(str(exc)).classes("text-negative").mark("model-error")
                return None
            try:
                served = await services.analytics.latest_versions()
            except (SQLAlchemyError, OSError):
                served = None
            _draw(info, served, services)
            _registry_card(registry)
            _comparison_card(comparisons)
            _details(info)
        return None


def _draw(info: ModelInfo, served: ServedVersions | None, services: UiServices) -> None:
    with ui.row().classes("w-full items-center gap-3"):
        ui.label("Models").classes("text-2xl font-bold")
        ui.chip(info.version, icon="inventory_2").props("square outline").mark("model-version")
        ui.label(f"trained {info.created_at[:19].replace('T', ' ')} UTC").classes("vigil-muted")
        ui.space()
        if served is None:
            ui.label("no decisions yet").classes("vigil-muted")
        else:
            same = served.model_version == info.version
            ui.chip(
                f"serving {served.model_version}",
                icon="check_circle" if same else "warning",
                color="positive" if same else "warning",
            ).props("square text-color=white").mark("served-version").tooltip(
                "model version of the latest decision, "
                + ago(served.decided_at, services.clock.now())
            )
    with ui.card().classes("vigil-card w-full gap-2"):
        ui.label(f"Evaluation · {info.evaluated_on}").classes(
            "text-sm font-bold uppercase tracking-wide vigil-muted"
        )
        ui.table(
            columns=COLUMNS, rows=[metric_row(m) for m in info.metrics], row_key="score"
        ).props("flat dense").classes("vigil-table w-full").mark("metrics")


def _details(info: ModelInfo) -> None:
    manifest = info.manifest
    with ui.grid(columns="repeat(auto-fit, minmax(min(100%, 22rem), 1fr))").classes("w-full gap-4"):
        _summary_card(manifest)
        _thresholds_card(manifest)
        _features_card(manifest)
    if info.plots:
        with ui.grid(columns="repeat(auto-fit, minmax(min(100%, 30rem), 1fr))").classes(
            "w-full gap-4"
        ):
            for plot in info.plots:
                with ui.card().classes("vigil-card gap-1"):
                    ui.label(plot.stem.replace("_", " ")).classes(
                        "text-sm font-bold uppercase tracking-wide vigil-muted"
                    )
                    ui.image(plot).props("fit=contain").classes("w-full h-96").mark(
                        f"plot-{plot.stem}"
                    )
    with ui.expansion("manifest.json", icon="data_object").classes("vigil-card w-full"):
        pretty = msgspec.json.format(msgspec.json.encode(manifest), indent=2).decode()
        ui.code(pretty, language="json").classes("w-full")


def registry_row(model: ModelVersionInfo) -> dict[str, str]:
    """One registered version as table cells."""
    metrics, training = model.metrics, model.training
    window = f"{(training.get('fit_start') or '?')[:10]} → {(training.get('test_end') or '?')[:10]}"
    promoted = (
        f"{model.promoted_at:%Y-%m-%d %H:%M} by {model.promoted_by}"
        if model.promoted_at is not None
        else DASH
    )
    return {
        "version": model.version,
        "role": model.role.value if model.role else DASH,
        "ap": _num(metrics.get("test_average_precision")),
        "recall": _num(metrics.get("test_review_recall")),
        "rate": _percent(metrics.get("test_review_alert_rate")),
        "window": window,
        "registered": f"{model.registered_at:%Y-%m-%d %H:%M} by {model.registered_by}",
        "promoted": promoted,
    }


def comparison_rows(comparison: ShadowComparison) -> list[dict[str, str]]:
    """Champion and challenger of one comparison as table cells."""
    return [
        {
            "role": role,
            "version": quality.version,
            "ap": _num(quality.average_precision),
            "auc": _num(quality.roc_auc),
            "recall": _num(quality.recall_at_volume),
            "precision": _num(quality.precision_at_volume),
        }
        for role, quality in (
            ("champion", comparison.champion),
            ("challenger", comparison.challenger),
        )
    ]


def _registry_card(registry: ModelRegistryView | None) -> None:
    with ui.card().classes("vigil-card w-full gap-2").mark("registry"):
        ui.label("Registry").classes("text-sm font-bold uppercase tracking-wide vigil-muted")
        if registry is None:
            ui.label("The registry cannot be read right now.").classes("text-negative")
            return
        if not registry.models:
            ui.label(
                "No registered models: the engine scores with its configured model directory. "
                "Register one with `vigil models register DIR`."
            ).classes("vigil-muted").mark("registry-empty")
            return
        ui.table(
            columns=REGISTRY_COLUMNS,
            rows=[registry_row(m) for m in registry.models],
            row_key="version",
        ).props("flat dense").classes("vigil-table w-full").mark("registry-table")


def _comparison_card(comparisons: list[ShadowComparison]) -> None:
    with ui.card().classes("vigil-card w-full gap-2").mark("shadow"):
        ui.label("Champion vs challenger · labelled live traffic").classes(
            "text-sm font-bold uppercase tracking-wide vigil-muted"
        )
        if not comparisons:
            ui.label(
                "No labelled transaction has a challenger score yet "
                "(`vigil models challenger VERSION --gateway URL`)."
            ).classes("vigil-muted").mark("shadow-empty")
            return
        for comparison in comparisons:
            ui.label(
                f"{comparison.rows:,} labelled transactions, {comparison.frauds:,} fraud; both "
                f"held to the {comparison.alerts:,} alerts the engine raised on them"
            )
            ui.table(
                columns=COMPARISON_COLUMNS, rows=comparison_rows(comparison), row_key="role"
            ).props("flat dense").classes("vigil-table w-full").mark("shadow-table")


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.2%}"


def _summary_card(manifest: dict[str, Any]) -> None:
    data = manifest.get("data") or {}
    split = manifest.get("split") or {}
    with ui.card().classes("vigil-card gap-1"):
        ui.label("Training data").classes("text-sm font-bold uppercase tracking-wide vigil-muted")
        _fact("Rows", f"{data.get('rows', 0):,}")
        _fact("Frauds", f"{data.get('frauds', 0):,}")
        _fact("From", str(data.get("start") or DASH)[:10])
        _fact("To", str(data.get("end") or DASH)[:10])
        _fact("Test from", str(split.get("test_start") or DASH)[:19].replace("T", " "))
        _fact("Seed", str(manifest.get("seed", DASH)))
        for scenario, count in sorted((data.get("scenarios") or {}).items()):
            _fact(f"· {scenario}", f"{count:,}")


def _thresholds_card(manifest: dict[str, Any]) -> None:
    with ui.card().classes("vigil-card gap-1"):
        ui.label("Thresholds").classes("text-sm font-bold uppercase tracking-wide vigil-muted")
        for name, spec in (manifest.get("thresholds") or {}).items():
            ui.label(SCORE_TITLES.get(name, name)).classes("font-bold mt-2")
            _fact("review at", _num(spec.get("review"), 4))
            _fact("block at", _num(spec.get("block"), 4))
            ui.label(str(spec.get("block_policy", ""))).classes("text-xs vigil-muted")


def _features_card(manifest: dict[str, Any]) -> None:
    names = manifest.get("feature_names") or []
    libraries = manifest.get("libraries") or {}
    with ui.card().classes("vigil-card gap-1"):
        ui.label(f"Features · {len(names)}").classes(
            "text-sm font-bold uppercase tracking-wide vigil-muted"
        )
        _fact("Spec version", str(manifest.get("feature_spec_version", DASH)))
        with ui.element("div").classes("flex flex-wrap gap-1 mt-1"):
            for name in names:
                ui.chip(name).props("dense square outline").classes("text-xs")
        ui.label("Libraries").classes("font-bold mt-2")
        for library, version in sorted(libraries.items()):
            _fact(library, str(version))


def _fact(name: str, value: str) -> None:
    with ui.row().classes("w-full justify-between gap-4 text-sm no-wrap"):
        ui.label(name).classes("vigil-muted")
        ui.label(value).classes("vigil-mono text-right")


def _num(value: Any, digits: int = 3) -> str:
    return DASH if value is None else f"{float(value):.{digits}f}"
