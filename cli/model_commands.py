"""``vigil train`` and ``vigil evaluate``: build a model artifact and measure it.

Heavy libraries (pandas, XGBoost, scikit-learn, matplotlib) are imported inside the commands.
Flags are checked before any data is read; a bad one is an
:class:`~core.errors.InvalidInputError` naming it (exit code 2).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import msgspec
import typer

from cli.context import CliState
from core.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    import pandas as pd

    from artifacts.manifest import DataSource, Manifest
    from features.spec import FeatureSet
    from training.calibration import ThresholdPolicy
    from training.evaluation_types import Evaluation
    from training.windows import TimeWindows

_T = TypeVar("_T")
DEFAULT_GAP_DAYS = 7.0
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_REVIEW_RECALL = 0.8
_WINDOW_HELP = (
    "ISO 8601 date (midnight UTC) or date-time; blocks are half-open [start, end): "
    "2024-03-01 to 2024-03-15 is 14 days."
)


class EvaluationScope(enum.StrEnum):
    """Which rows ``vigil evaluate`` scores (mirrors ``training.evaluation_types.Scope``)."""

    TEST = "test"
    ALL = "all"


DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Labelled dataset (.csv or .parquet); or --from-db.",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]
FromDbOption = Annotated[
    bool,
    typer.Option(
        "--from-db",
        help="Instead of --data: the transactions the engine stored in PostgreSQL (the "
        "configured database_url) with their labels; features are recomputed with the current "
        "spec. A transaction without a label is legitimate from its event time + --label-delay.",
    ),
]
TestStartOption = Annotated[
    str | None,
    typer.Option(
        "--test-start",
        help="First instant of the test block (at or after the end of the train block). "
        + _WINDOW_HELP,
        show_default=False,
    ),
]
TestEndOption = Annotated[
    str | None,
    typer.Option("--test-end", help="End (exclusive) of the test block.", show_default=False),
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
    data: DataOption = None,
    from_db: FromDbOption = False,
    out: Annotated[Path, typer.Option("--out", help="Artifact directory to write.")],
    seed: Annotated[int, typer.Option(help="Seed of every random choice.", min=0)] = 0,
    train_start: Annotated[
        str | None,
        typer.Option(
            "--train-start",
            help="First instant of the train block (with --train-end, --test-start, --test-end;"
            " rows before it are feature history only). " + _WINDOW_HELP,
            show_default=False,
        ),
    ] = None,
    train_end: Annotated[
        str | None,
        typer.Option(
            "--train-end",
            help="End (exclusive) of the train block; its labels are read as known then.",
            show_default=False,
        ),
    ] = None,
    test_start: TestStartOption = None,
    test_end: TestEndOption = None,
    label_delay: Annotated[
        str,
        typer.Option(
            "--label-delay",
            help="How long after a transaction its label becomes known, for rows without a "
            "label_known_at (e.g. 0, 36h, 7d). Train rows whose label is not known by the end "
            "of the train block are not trained on.",
        ),
    ] = "0d",
    gap_days: Annotated[
        float | None,
        typer.Option(
            help="Without date windows: days of label delay left out before the test block "
            f"(default {DEFAULT_GAP_DAYS:g}).",
            min=0,
            show_default=False,
        ),
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(
            help="Without date windows: share of the latest rows held out for testing "
            f"(default {DEFAULT_TEST_FRACTION:g}).",
            show_default=False,
        ),
    ] = None,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of the training rows (latest) used for validation.")
    ] = 0.15,
    reviews_per_day: Annotated[
        float | None,
        typer.Option(
            "--reviews-per-day",
            help="Reviewer capacity: choose the review threshold so that the expected review "
            "and block alerts per day (measured on the validation period) stay within it.",
            show_default=False,
        ),
    ] = None,
    review_recall: Annotated[
        float | None,
        typer.Option(
            "--review-recall",
            help="Without --reviews-per-day: the review threshold flags this share of "
            f"validation frauds (default {DEFAULT_REVIEW_RECALL:g}).",
            show_default=False,
        ),
    ] = None,
    block_precision: Annotated[
        float,
        typer.Option(
            "--block-precision",
            help="Precision floor of the block threshold on validation (1.0 blocks only when "
            "every cut above it is fraud).",
        ),
    ] = 0.9,
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
    """Train XGBoost + Isolation Forest on a labelled dataset (--data FILE, or --from-db) and
    write a model artifact.

    The test block is the latest --test-fraction of rows after a --gap-days gap, or, with
    --train-start/--train-end/--test-start/--test-end, exactly those dates.
    """
    from artifacts.manifest import DataSource  # noqa: PLC0415 - heavy
    from artifacts.store import (  # noqa: PLC0415
        check_destination,
        load_artifact,
        write_artifact,
    )
    from features.offline import compute_features  # noqa: PLC0415
    from training.dataset import read_dataset  # noqa: PLC0415
    from training.estimators import ModelParams  # noqa: PLC0415
    from training.evaluate import evaluate, write_evaluation  # noqa: PLC0415
    from training.evaluation_types import Scope  # noqa: PLC0415
    from training.labels import parse_label_delay  # noqa: PLC0415
    from training.train import fit  # noqa: PLC0415
    from training.windows import parse_windows  # noqa: PLC0415

    problems: list[Problem] = data_source_problems(data, from_db=from_db)
    windows = _collect(
        problems, lambda: parse_windows(train_start, train_end, test_start, test_end)
    )
    if windows is not None:
        problems += _refused_with_windows(gap_days=gap_days, test_fraction=test_fraction)
    try:
        delay = parse_label_delay(label_delay)
    except ValueError as exc:
        problems.append(Problem("--label-delay", str(exc)))
    policy = _collect(
        problems, lambda: threshold_policy(reviews_per_day, review_recall, block_precision)
    )
    if problems or policy is None:
        raise InvalidInputError("invalid options", problems)
    check_destination(out, overwrite=force)
    started = time.perf_counter()
    feature_set = _feature_set(ctx, features)
    if data is None:
        dataset, source = _stored_dataset(ctx, windows, delay)
    else:
        dataset, source = read_dataset(data), DataSource(kind="file", location=str(data))
    read_seconds = time.perf_counter() - started
    computed = compute_features(dataset, feature_set)
    feature_seconds = time.perf_counter() - started - read_seconds
    params = ModelParams(
        n_estimators=trees,
        max_depth=max_depth,
        forest_trees=forest_trees,
        n_threads=threads,
        thresholds=policy,
    )
    run = fit(
        dataset,
        feature_set,
        seed=seed,
        gap_days=DEFAULT_GAP_DAYS if gap_days is None else gap_days,
        test_fraction=DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction,
        validation_fraction=validation_fraction,
        windows=windows,
        label_delay=delay,
        params=params,
        features=computed,
    )
    drafted = msgspec.structs.replace(run.manifest, data_source=source)
    manifest = write_artifact(out, drafted, run.xgboost_model, run.forest, overwrite=force)
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
    data: DataOption = None,
    from_db: Annotated[
        bool,
        typer.Option(
            "--from-db",
            help="Instead of --data: the transactions stored in PostgreSQL with their current "
            "labels (unlabelled ones count as legitimate).",
        ),
    ] = False,
    on: Annotated[
        EvaluationScope | None,
        typer.Option(
            "--on",
            help="test: only the model's test block (rows from its test start, and before its "
            "test end when it was trained on date windows; all of newer data); all: every row "
            "of the file (default: test, or the --test-start/--test-end window).",
            show_default=False,
        ),
    ] = None,
    test_start: TestStartOption = None,
    test_end: TestEndOption = None,
    scores_out: Annotated[
        Path | None,
        typer.Option(
            "--scores-out",
            help="Also write per-transaction scores (transaction_id, timestamp, account_id, "
            "label, scenario, each model score, ensemble, outcome) as .csv or .parquet.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", help="Accounts checked per day for card precision@k.", min=1)
    ] = 100,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write metrics.json and report.md (default: --model)."),
    ] = None,
    features: FeaturesOption = None,
) -> None:
    """Measure a model artifact on a labelled dataset (--data FILE, or --from-db) and write
    metrics.json and report.md."""
    from artifacts.store import load_artifact  # noqa: PLC0415 - heavy
    from training.dataset import read_dataset  # noqa: PLC0415
    from training.evaluate import (  # noqa: PLC0415
        check_window_after_training,
        evaluate,
        write_evaluation,
    )
    from training.evaluation_types import Scope  # noqa: PLC0415
    from training.scores_out import check_scores_path, scores_frame, write_scores  # noqa: PLC0415
    from training.windows import parse_test_window  # noqa: PLC0415

    source_problems = data_source_problems(data, from_db=from_db)
    if source_problems:
        raise InvalidInputError("invalid options", source_problems)
    window = parse_test_window(test_start, test_end)
    if window is not None and on is not None:
        raise InvalidInputError(
            "conflicting options",
            [Problem("--on", "cannot be combined with --test-start/--test-end (a window)")],
        )
    if scores_out is not None:
        check_scores_path(scores_out)
    scope = Scope.WINDOW if window is not None else Scope((on or EvaluationScope.TEST).value)
    feature_set = _feature_set(ctx, features)
    model = load_artifact(model_dir, feature_set.names)
    if window is not None:
        check_window_after_training(model, window)
    if model.manifest.feature_spec_version != feature_set.version:
        typer.echo(
            f"note: the model was trained with feature spec {model.manifest.feature_spec_version}"
            f", the current spec is {feature_set.version} (same feature names)",
            err=True,
        )
    if data is None:
        from cli.stored_data import read_stored_dataset  # noqa: PLC0415

        stored = read_stored_dataset(ctx)
        if stored.frame.empty:
            raise InvalidInputError(
                f"no transactions are stored in {stored.where}: nothing to evaluate"
            )
        dataset = stored.frame
    else:
        dataset = read_dataset(data)
    run = evaluate(model, dataset, scope=scope, window=window, k=k, feature_set=feature_set)
    destination = out or model_dir
    write_evaluation(run, model, destination)
    _echo_evaluation(run.evaluation)
    typer.echo(f"wrote {destination / 'metrics.json'} and {destination / 'report.md'}")
    if scores_out is not None:
        thresholds = model.manifest.thresholds["ensemble"]
        write_scores(scores_frame(run.transactions, run.scores, thresholds, run.labels), scores_out)
        typer.echo(f"wrote {len(run.transactions)} scored transactions to {scores_out}")


def threshold_policy(
    reviews_per_day: float | None, review_recall: float | None, block_precision: float
) -> ThresholdPolicy:
    """The threshold policy the flags ask for; :class:`InvalidInputError` names a bad flag."""
    from training.calibration import ThresholdPolicy  # noqa: PLC0415 - numpy

    problems = []
    if reviews_per_day is not None and not 0.0 < reviews_per_day < float("inf"):
        problems.append(Problem("--reviews-per-day", f"must be > 0, got {reviews_per_day:g}"))
    if review_recall is not None and not 0.0 < review_recall <= 1.0:
        problems.append(Problem("--review-recall", f"must be in (0, 1], got {review_recall:g}"))
    if reviews_per_day is not None and review_recall is not None:
        problems.append(
            Problem("--review-recall", "cannot be combined with --reviews-per-day (capacity)")
        )
    if not 0.0 < block_precision <= 1.0:
        problems.append(Problem("--block-precision", f"must be in (0, 1], got {block_precision:g}"))
    if problems:
        raise InvalidInputError("invalid threshold options", problems)
    return ThresholdPolicy(
        review_recall=DEFAULT_REVIEW_RECALL if review_recall is None else review_recall,
        block_precision=block_precision,
        reviews_per_day=reviews_per_day,
    )


def data_source_problems(data: Path | None, *, from_db: bool) -> list[Problem]:
    """Exactly one of ``--data`` and ``--from-db`` must be given; what is wrong otherwise."""
    if data is not None and from_db:
        return [Problem("--from-db", "cannot be combined with --data: give one data source")]
    if data is None and not from_db:
        return [
            Problem(
                "--data",
                "a labelled dataset file is required, or --from-db to use the transactions and "
                "labels stored in PostgreSQL",
            )
        ]
    return []


def _stored_dataset(
    ctx: typer.Context, windows: TimeWindows | None, delay: timedelta
) -> tuple[pd.DataFrame, DataSource]:
    """The stored transactions with their labels as known at the end of the train block (when
    the windows give it), checked for something to train on."""
    from artifacts.manifest import DataSource  # noqa: PLC0415 - heavy
    from cli.stored_data import read_stored_dataset  # noqa: PLC0415
    from training.stored import check_trainable  # noqa: PLC0415

    cutoff = None if windows is None else windows.train_end
    stored = read_stored_dataset(ctx, labels_known_by=cutoff)
    check_trainable(stored.frame, where=stored.where, windows=windows)
    labelled = int(stored.frame["label_known_at"].notna().sum())
    typer.echo(
        f"read {len(stored.frame):,} stored transactions from {stored.where}: {labelled:,} "
        f"labelled ({int(stored.frame['label'].sum()):,} fraud); the others count as "
        f"legitimate from their event time + --label-delay ({_duration(delay)})"
    )
    return stored.frame, DataSource(kind="database", location=stored.where)


def _duration(delay: timedelta) -> str:
    days = delay / timedelta(days=1)
    return f"{days:g}d" if days >= 1 or days == 0 else f"{delay.total_seconds() / 3600:g}h"


def _refused_with_windows(*, gap_days: float | None, test_fraction: float | None) -> list[Problem]:
    given = {"--gap-days": gap_days, "--test-fraction": test_fraction}
    return [
        Problem(
            flag,
            "cannot be combined with date windows (--train-start ... --test-end): "
            "the gap is --test-start minus --train-end",
        )
        for flag, value in given.items()
        if value is not None
    ]


def _collect(problems: list[Problem], parse: Callable[[], _T]) -> _T | None:
    """``parse()``, or ``None`` with its problems added to ``problems``."""
    try:
        return parse()
    except InvalidInputError as exc:
        problems.extend(exc.problems)
        return None


def _feature_set(ctx: typer.Context, path: Path | None) -> FeatureSet:
    from features.spec import load_feature_set  # noqa: PLC0415 - keeps --help fast

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    if path is None:
        path = state.settings.features_file
    return load_feature_set(path, state.settings.fx_file)


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
    if split.unlabelled is not None and split.unlabelled.rows:
        typer.echo(
            f"  labels known by {split.gap_start.isoformat()}: {split.unlabelled.rows} train rows"
            " not yet labelled were not trained on"
        )
    if split.outside is not None and split.outside.rows:
        typer.echo(f"  outside the windows: {split.outside.rows} rows (feature history only)")
    thresholds = manifest.thresholds["ensemble"]
    expected = manifest.metrics.get("validation", {}).get("ensemble")
    per_day = (
        ""
        if expected is None
        else (
            f" (expected {_num(expected.review_alerts_per_day, '.1f')} alerts/day, "
            f"rate {_num(expected.review_alert_rate, '.2%')})"
        )
    )
    typer.echo(
        f"  thresholds: review {thresholds.review:.4f}, block {thresholds.block:.4f}{per_day}"
    )
    for name, metrics in manifest.metrics.get("test", {}).items():
        typer.echo(
            f"  test {name}: ROC AUC {_num(metrics.roc_auc)}, "
            f"avg precision {_num(metrics.average_precision)}, "
            f"review P/R {_num(metrics.review_precision)}/{_num(metrics.review_recall)} "
            f"(alert rate {_num(metrics.review_alert_rate, '.2%')}, "
            f"{_num(metrics.review_alerts_per_day, '.1f')}/day), "
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
            f"review P/R {_num(score.review.precision)}/{_num(score.review.recall)} "
            f"(alert rate {_num(score.review.alert_rate, '.2%')}, "
            f"{_num(score.review.alerts_per_day, '.1f')}/day), "
            f"block P/R {_num(score.block.precision)}/{_num(score.block.recall)}"
        )


def _num(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)
