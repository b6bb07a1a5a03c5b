"""The evaluation report: ``report.md`` and its figures, drawn with matplotlib's Agg canvas.

Figures are made with ``matplotlib.figure.Figure`` on an explicit Agg canvas, so no global
backend is switched and nothing needs a display. Feature importance is the mean absolute exact
TreeSHAP contribution over (at most) :data:`IMPORTANCE_ROWS` evenly spaced evaluated rows, next
to XGBoost's total gain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray
from sklearn.metrics import precision_recall_curve, roc_curve

from artifacts.manifest import MODEL_NAMES, DataSummary, Manifest
from artifacts.runtime import LoadedModel
from training.evaluation_types import Evaluation, EvaluationRun, ScoreEvaluation
from training.metrics import ThresholdMetrics

REPORT_FILE: Final = "report.md"
IMPORTANCE_ROWS: Final = 1000
TOP_FEATURES: Final = 20
_SIZES: Final = {"score_distributions.png": (11, 4), "feature_importance.png": (8, 6)}
_TITLES: Final = {
    "xgboost": "XGBoost",
    "isolation_forest": "Isolation Forest",
    "ensemble": "Ensemble",
}


def write_report(run: EvaluationRun, model: LoadedModel, directory: Path) -> list[Path]:
    """Write ``report.md`` and four PNG figures into ``directory``; return their paths."""
    importance = feature_importance(model, run.rows)
    figures: dict[str, Callable[[Figure], None]] = {
        "roc_curve.png": lambda fig: _roc(fig, run),
        "pr_curve.png": lambda fig: _precision_recall(fig, run),
        "score_distributions.png": lambda fig: _distributions(fig, run, model.manifest),
        "feature_importance.png": lambda fig: _importance(fig, importance),
    }
    paths = []
    for name, draw in figures.items():
        figure = Figure(figsize=_SIZES.get(name, (6, 4.5)))
        FigureCanvasAgg(figure)
        draw(figure)
        figure.tight_layout()
        path = directory / name
        figure.savefig(path, dpi=110, metadata={"Software": None})
        paths.append(path)
    report = directory / REPORT_FILE
    report.write_text(
        render_markdown(run.evaluation, model.manifest, importance, [p.name for p in paths]),
        encoding="utf-8",
    )
    return [report, *paths]


def feature_importance(
    model: LoadedModel, rows: NDArray[np.float64]
) -> list[tuple[str, float, float]]:
    """(feature, mean |SHAP| in log-odds, share of total gain), most important first."""
    sample = rows[
        np.unique(np.linspace(0, len(rows) - 1, min(len(rows), IMPORTANCE_ROWS), dtype=int))
    ]
    shap = np.abs(model.contribution_matrix(sample, exact=True)[:, :-1]).mean(axis=0)
    gain = {
        name: float(np.sum(value))
        for name, value in model.booster.get_score(importance_type="total_gain").items()
    }
    total_gain = sum(gain.values()) or 1.0
    ranked = sorted(
        zip(model.feature_names, shap, strict=True), key=lambda item: (-item[1], item[0])
    )
    return [(name, float(value), gain.get(name, 0.0) / total_gain) for name, value in ranked]


def render_markdown(
    evaluation: Evaluation,
    manifest: Manifest,
    importance: list[tuple[str, float, float]],
    figures: list[str],
) -> str:
    """The report's Markdown text."""
    ens = manifest.ensemble
    lines = [
        f"# Model report: `{manifest.version}`",
        "",
        f"Evaluated on **{evaluation.scope.value}** rows: {_describe(evaluation.data)}.",
        "",
        "## Model",
        "",
        f"- Created {manifest.created_at.isoformat()}, seed {manifest.seed}, "
        f"feature spec `{manifest.feature_spec_version}` ({len(manifest.feature_names)} features).",
        f"- Trained on {_describe(manifest.split.fit)}; "
        f"validation tail {_describe(manifest.split.validation)}; "
        f"{manifest.split.gap_days:g}-day label gap ({manifest.split.gap.rows} rows unused); "
        f"test from {manifest.split.test_start.isoformat()}.",
        *_split_lines(manifest),
        f"- XGBoost: {manifest.xgboost.n_trees} trees (best iteration "
        f"{manifest.xgboost.best_iteration} of {manifest.xgboost.num_boost_round}), "
        f"base score {manifest.xgboost.base_score:.4g}.",
        f"- Isolation Forest: {manifest.isolation_forest.n_estimators} trees, "
        f"{manifest.isolation_forest.max_samples} samples each, trained on "
        f"{manifest.isolation_forest.trained_on} ({manifest.isolation_forest.training_rows} rows).",
        f"- Ensemble: sigmoid({ens.intercept:.3f} + {ens.xgboost_weight:.3f} * xgboost_margin + "
        f"{ens.isolation_forest_weight:.3f} * isolation_forest), fitted on {ens.fitted_rows} "
        f"validation rows ({ens.fitted_frauds} frauds).",
        "",
        "## Scores",
        "",
        f"| score | ROC AUC | avg precision | card precision@{evaluation.k} "
        "| review P / R / F1 | block P / R / F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in MODEL_NAMES:
        s = evaluation.scores[name]
        lines.append(
            f"| {_TITLES[name]} | {_num(s.roc_auc)} | {_num(s.average_precision)} | "
            f"{_num(s.card_precision_at_k)} | {_prf(s.review)} | {_prf(s.block)} |"
        )
    lines += ["", *_alert_section(evaluation, manifest)]
    lines += ["## Thresholds and confusion matrices", ""]
    for name in MODEL_NAMES:
        lines += _threshold_section(name, evaluation.scores[name], manifest)
    lines += ["## Recall per fraud scenario", "", *_scenario_table(evaluation.scores), ""]
    lines += ["## Figures", "", *[f"![{f}]({f})" for f in figures], ""]
    lines += [
        f"## Top {TOP_FEATURES} features",
        "",
        "| feature | mean abs SHAP (log-odds) | share of gain |",
        "| --- | ---: | ---: |",
        *[f"| `{n}` | {s:.4f} | {g:.1%} |" for n, s, g in importance[:TOP_FEATURES]],
        "",
    ]
    return "\n".join(lines)


def _split_lines(manifest: Manifest) -> list[str]:
    """Windows, label visibility and unused rows, when the manifest records them."""
    split = manifest.split
    lines = []
    if split.mode == "windows" and split.train_start is not None and split.test_end is not None:
        outside = split.outside.rows if split.outside is not None else 0
        lines.append(
            f"- Date windows: train [{_when(split.train_start)}, {_when(split.gap_start)}), "
            f"test [{_when(split.test_start)}, {_when(split.test_end)}); {outside} rows outside "
            "both blocks and the gap rows serve only as feature history."
        )
    if split.labels_known_by is not None:
        unlabelled = split.unlabelled.rows if split.unlabelled is not None else 0
        lines.append(
            f"- Labels as known at {_when(split.labels_known_by)} (a row's `label_known_at`, "
            f"else its time + {split.label_delay_days:g} days): {unlabelled} train rows whose "
            "label was not yet known were not trained on."
        )
    return lines


def _alert_section(evaluation: Evaluation, manifest: Manifest) -> list[str]:
    """Alert volume, precision and recall at the chosen thresholds, next to the expected ones."""
    expected = manifest.metrics.get("validation", {})
    period = f"{evaluation.days:.2f} days" if evaluation.days is not None else "an unknown length"
    lines = [
        "## Alerts at the chosen thresholds",
        "",
        f"Policy: {_policy(manifest)}",
        "",
        f"The evaluated period spans {period}. In parentheses: the values expected on the "
        "validation period when the thresholds were chosen.",
        "",
        "| score | level | threshold | alerts/day | alert rate | precision | recall |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in MODEL_NAMES:
        score = evaluation.scores[name]
        seen = expected.get(name)
        for level, metrics in (("review", score.review), ("block", score.block)):
            per_day, rate, precision, recall = (
                (None, None, None, None)
                if seen is None
                else (
                    getattr(seen, f"{level}_alerts_per_day"),
                    getattr(seen, f"{level}_alert_rate"),
                    getattr(seen, f"{level}_precision"),
                    getattr(seen, f"{level}_recall"),
                )
            )
            lines.append(
                f"| {_TITLES[name]} | {level} | {metrics.threshold:.4f} | "
                f"{_pair(metrics.alerts_per_day, per_day, '.1f')} | "
                f"{_pair(metrics.alert_rate, rate, '.2%')} | "
                f"{_pair(metrics.precision, precision, '.3f')} | "
                f"{_pair(metrics.recall, recall, '.3f')} |"
            )
    return [*lines, ""]


def _policy(manifest: Manifest) -> str:
    policy = manifest.threshold_policy
    if policy is None:
        return "not recorded (an artifact from before threshold policies were recorded)."
    if policy.reviews_per_day is not None:
        review = (
            f"review by capacity, at most {policy.reviews_per_day:g} alerts (review and block) "
            "per day"
        )
    else:
        recall = policy.review_recall if policy.review_recall is not None else 0.0
        review = f"review by recall, flagging {recall:.0%} of validation frauds"
    return (
        f"{review}; block where precision stays >= {policy.block_precision:.0%} on validation "
        f"(cuts of at least {policy.min_block_support} rows). Expected alerts per day: the alert "
        f"rate on the {policy.volume_rows} rows of the validation period x the train block's "
        f"{policy.rows_per_day:.0f} rows per day."
    )


def _pair(actual: float | None, expected: float | None, spec: str) -> str:
    shown = "n/a" if actual is None else format(actual, spec)
    return shown if expected is None else f"{shown} ({format(expected, spec)})"


def _when(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d}" if utc.time() == datetime.min.time() else utc.isoformat()


def _threshold_section(name: str, score: ScoreEvaluation, manifest: Manifest) -> list[str]:
    policy = manifest.thresholds[name]
    lines = [f"**{_TITLES[name]}**", ""]
    for label, metrics, note in (
        ("review", score.review, policy.review_policy),
        ("block", score.block, policy.block_policy),
    ):
        lines.append(
            f"- {label} at score >= {metrics.threshold:.4f}: flagged {metrics.flagged}, "
            f"TP {metrics.true_positives}, FP {metrics.false_positives}, "
            f"FN {metrics.false_negatives}, TN {metrics.true_negatives}. Policy: {note}."
        )
    return [*lines, ""]


def _scenario_table(scores: dict[str, ScoreEvaluation]) -> list[str]:
    scenarios = sorted({s for name in MODEL_NAMES for s in scores[name].scenario_recall})
    if not scenarios:
        return ["No fraud rows were evaluated."]
    header = "| scenario | frauds | " + " | ".join(
        f"{_TITLES[n]} review / block" for n in MODEL_NAMES
    )
    lines = [header + " |", "| --- | ---: |" + " ---: |" * len(MODEL_NAMES)]
    for scenario in scenarios:
        cells = []
        frauds = 0
        for name in MODEL_NAMES:
            recall = scores[name].scenario_recall[scenario]
            frauds = recall.frauds
            cells.append(f"{recall.review_recall:.3f} / {recall.block_recall:.3f}")
        lines.append(f"| {scenario} | {frauds} | " + " | ".join(cells) + " |")
    return lines


def _roc(figure: Figure, run: EvaluationRun) -> None:
    axes = figure.add_subplot()
    for name in MODEL_NAMES:
        if len(np.unique(run.labels)) == 2:
            fpr, tpr, _ = roc_curve(run.labels, run.scores.by_name(name))
            auc = run.evaluation.scores[name].roc_auc
            axes.plot(fpr, tpr, label=f"{_TITLES[name]} (AUC {_num(auc)})")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    axes.legend(loc="lower right")


def _precision_recall(figure: Figure, run: EvaluationRun) -> None:
    axes = figure.add_subplot()
    for name in MODEL_NAMES:
        if run.labels.any():
            precision, recall, _ = precision_recall_curve(run.labels, run.scores.by_name(name))
            ap = run.evaluation.scores[name].average_precision
            axes.plot(recall, precision, label=f"{_TITLES[name]} (AP {_num(ap)})")
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    axes.legend(loc="lower left")


def _distributions(figure: Figure, run: EvaluationRun, manifest: Manifest) -> None:
    bins = [i / 50 for i in range(51)]
    for index, name in enumerate(MODEL_NAMES, start=1):
        axes = figure.add_subplot(1, len(MODEL_NAMES), index)
        values = run.scores.by_name(name)
        for label, title in ((0, "legitimate"), (1, "fraud")):
            chosen = values[run.labels == label]
            if chosen.size:
                axes.hist(chosen, bins=bins, alpha=0.6, density=True, label=title)
        for kind in ("review", "block"):
            threshold = getattr(manifest.thresholds[name], kind)
            axes.axvline(threshold, linestyle="--", color="black" if kind == "block" else "grey")
        axes.set(title=_TITLES[name], xlabel="score", yscale="log")
        axes.legend(loc="upper center")


def _importance(figure: Figure, importance: list[tuple[str, float, float]]) -> None:
    top = importance[:TOP_FEATURES][::-1]
    axes = figure.add_subplot()
    axes.barh([n for n, _, _ in top], [s for _, s, _ in top])
    axes.set(xlabel="mean |SHAP| (log-odds)", title="Feature importance (XGBoost)")
    axes.tick_params(axis="y", labelsize=6)


def _describe(data: DataSummary) -> str:
    span = (
        f", {data.start:%Y-%m-%d} to {data.end:%Y-%m-%d}"
        if data.start is not None and data.end is not None
        else ""
    )
    return f"{data.rows} rows, {data.frauds} frauds{span}"


def _prf(metrics: ThresholdMetrics) -> str:
    return f"{_num(metrics.precision)} / {_num(metrics.recall)} / {_num(metrics.f1)}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
