"""``vigil train`` and ``vigil evaluate``: build a model artifact and measure it.

Heavy libraries (pandas, XGBoost, scikit-learn, matplotlib) are imported inside the commands.
"""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.context import CliState

if TYPE_CHECKING:
    from artifacts.manifest import Manifest
    from features.spec import FeatureSet
    from training.evaluate import Evaluation


class EvaluationScope(enum.StrEnum):
    """Which rows ``vigil evaluate`` scores (mirrors ``training.evaluate.Scope``)."""

    TEST = "test"
    ALL = "all"


DataOption = Annotated[
    Path,
    typer.Option(
        "--data", help="Labelled dataset (.csv or .parquet).", exists=True, dir_okay=False
    ),
]
FeaturesOption = Annotated[
    Path | None,
    typer.Option(
        "--features",
        help="Feature spec file (default: the configured features_file).",
        exists=True,
        dir_okay=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to ``app``."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)


def train_command(
    ctx: typer.Context,
    *,
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="Artifact directory to write.")],
    seed: Annotated[int, typer.Option(help="Seed of every random choice.", min=0)] = 0,
    gap_days: Annotated[
        float, typer.Option(help="Days of label delay left out before the test block.", min=0)
    ] = 7.0,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the latest rows held out for testing.")
    ] = 0.2,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of the training rows (latest) used for validation.")
    ] = 0.15,
    trees: Annotated[int, typer.Option(help="Maximum XGBoost boosting rounds.", min=1)] = 300,
    max_depth: Annotated[int, typer.Option(help="XGBoost tree depth.", min=1)] = 6,
    forest_trees: Annotated[int, typer.Option(help="Isolation Forest trees.", min=1)] = 200,
    threads: Annotated[int, typer.Option(help="XGBoost training threads.", min=1)] = 2,
    features: FeaturesOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing artifact at --out.")
    ] = False,
    report: Annotated[
        bool, typer.Option(help="Evaluate on the test block and write report.md.")
    ] = True,
) -> None:
    """Train XGBoost + Isolation Forest on a labelled dataset and write a model artifact."""
    from artifacts.store import (  # noqa: PLC0415 - heavy
        check_destination,
        load_artifact,
        write_artifact,
    )
    from features.offline import compute_features  # noqa: PLC0415
    from training.dataset import read_dataset  # noqa: PLC0415
    from training.estimators import ModelParams  # noqa: PLC0415
    from training.evaluate import Scope, evaluate, write_evaluation  # noqa: PLC0415
    from training.train import fit  # noqa: PLC0415

    check_destination(out, overwrite=force)
    started = time.perf_counter()
    feature_set = _feature_set(ctx, features)
    dataset = read_dataset(data)
    read_seconds = time.perf_counter() - started
    computed = compute_features(dataset, feature_set)
    feature_seconds = time.perf_counter() - started - read_seconds
    params = ModelParams(
        n_estimators=trees, max_depth=max_depth, forest_trees=forest_trees, n_threads=threads
    )
    run = fit(
        dataset,
        feature_set,
        seed=seed,
        gap_days=gap_days,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        params=params,
        features=computed,
    )
    manifest = write_artifact(out, run.manifest, run.xgboost_model, run.forest, overwrite=force)
    timings = {"read": read_seconds, **run.timings, "features": feature_seconds}
    total = time.perf_counter() - started
    typer.echo(f"trained {manifest.version} in {total:.1f} s ({_timings(timings)})")
    _echo_manifest(manifest)
    if report:
        started = time.perf_counter()
        model = load_artifact(out, feature_set.names)
        evaluation = evaluate(model, dataset, scope=Scope.TEST, features=computed)
        written = write_evaluation(evaluation, model, out)
        typer.echo(
            f"report: {out / 'report.md'} ({len(written)} files, "
            f"{time.perf_counter() - started:.1f} s)"
        )
    typer.echo(f"wrote {out}")


def evaluate_command(
    ctx: typer.Context,
    *,
    model_dir: Annotated[
        Path, typer.Option("--model", help="Artifact directory.", exists=True, file_okay=False)
    ],
    data: DataOption,
    on: Annotated[
        EvaluationScope,
        typer.Option(
            "--on",
            help="test: only rows at or after the model's test start (the held-out block of "
            "its training file, or all of newer data); all: every row of the file.",
        ),
    ] = EvaluationScope.TEST,
    k: Annotated[
        int, typer.Option("--k", help="Accounts checked per day for card precision@k.", min=1)
    ] = 100,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write metrics.json and report.md (default: --model)."),
    ] = None,
    features: FeaturesOption = None,
) -> None:
    """Measure a model artifact on a labelled dataset and write metrics.json and report.md."""
    from artifacts.store import load_artifact  # noqa: PLC0415 - heavy
    from training.dataset import read_dataset  # noqa: PLC0415
    from training.evaluate import Scope, evaluate, write_evaluation  # noqa: PLC0415

    feature_set = _feature_set(ctx, features)
    model = load_artifact(model_dir, feature_set.names)
    if model.manifest.feature_spec_version != feature_set.version:
        typer.echo(
            f"note: the model was trained with feature spec {model.manifest.feature_spec_version}"
            f", the current spec is {feature_set.version} (same feature names)",
            err=True,
        )
    dataset = read_dataset(data)
    run = evaluate(model, dataset, scope=Scope(on.value), k=k, feature_set=feature_set)
    destination = out or model_dir
    write_evaluation(run, model, destination)
    _echo_evaluation(run.evaluation)
    typer.echo(f"wrote {destination / 'metrics.json'} and {destination / 'report.md'}")


def _feature_set(ctx: typer.Context, path: Path | None) -> FeatureSet:
    from features.spec import load_feature_set  # noqa: PLC0415 - keeps --help fast

    if path is None:
        state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
        path = state.settings.features_file
    return load_feature_set(path)


def _timings(timings: dict[str, float]) -> str:
    return ", ".join(
        f"{name.replace('_', ' ')} {seconds:.1f} s" for name, seconds in timings.items()
    )


def _echo_manifest(manifest: Manifest) -> None:
    split = manifest.split
    typer.echo(
        f"  rows: fit {split.fit.rows} ({split.fit.frauds} fraud), validation "
        f"{split.validation.rows} ({split.validation.frauds}), gap {split.gap.rows} unused, "
        f"test {split.test.rows} ({split.test.frauds})"
    )
    typer.echo(
        f"  xgboost: {manifest.xgboost.n_trees} trees; ensemble weights "
        f"xgboost {manifest.ensemble.xgboost_weight:.3f}, "
        f"isolation forest {manifest.ensemble.isolation_forest_weight:.3f}"
    )
    thresholds = manifest.thresholds["ensemble"]
    typer.echo(f"  thresholds: review {thresholds.review:.4f}, block {thresholds.block:.4f}")
    for name, metrics in manifest.metrics.get("test", {}).items():
        typer.echo(
            f"  test {name}: ROC AUC {_num(metrics.roc_auc)}, "
            f"avg precision {_num(metrics.average_precision)}, "
            f"review P/R {_num(metrics.review_precision)}/{_num(metrics.review_recall)}, "
            f"block P/R {_num(metrics.block_precision)}/{_num(metrics.block_recall)}"
        )


def _echo_evaluation(evaluation: Evaluation) -> None:
    data = evaluation.data
    typer.echo(
        f"evaluated {evaluation.model_version} on {evaluation.scope.value} rows: "
        f"{data.rows} rows, {data.frauds} frauds"
    )
    for name, score in evaluation.scores.items():
        typer.echo(
            f"  {name}: ROC AUC {_num(score.roc_auc)}, "
            f"avg precision {_num(score.average_precision)}, "
            f"card precision@{evaluation.k} {_num(score.card_precision_at_k)}, "
            f"review P/R {_num(score.review.precision)}/{_num(score.review.recall)}, "
            f"block P/R {_num(score.block.precision)}/{_num(score.block.recall)}"
        )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
