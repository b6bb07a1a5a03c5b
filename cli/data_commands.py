"""Data subcommands: ``vigil generate`` (synthetic labelled data) and ``vigil import`` (a foreign
CSV through a mapping file). Both write Vigil's dataset format (.csv or .parquet)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInputError, Problem

_DATASET_SUFFIXES = (".csv", ".parquet")


def register(app: typer.Typer) -> None:
    """Add this topic's subcommands to ``app``."""
    app.command("generate")(generate_command)
    app.command("import")(import_command)


def generate_command(
    *,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Dataset file to write (.csv or .parquet).")
    ],
    accounts: Annotated[int, typer.Option(min=1, help="Number of accounts.")] = 1_000,
    days: Annotated[int, typer.Option(min=1, help="Number of days of activity.")] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; same seed, same data.")] = 0,
    fraud_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of rows that are fraud.")
    ] = 0.007,
    start: Annotated[
        str,
        typer.Option(help="First day, ISO 8601 (e.g. 2024-01-01); without an offset it is UTC."),
    ] = "2024-01-01",
) -> None:
    """Generate a labelled synthetic dataset with realistic behaviour and fraud scenarios."""
    from training.dataset import write_dataset  # noqa: PLC0415 - keep `vigil --help` fast
    from training.generate import generate_dataset  # noqa: PLC0415 - keep `vigil --help` fast

    _check_dataset_path(out, "--out")
    began = time.perf_counter()
    dataset = generate_dataset(accounts, days, seed, fraud_rate, _parse_start(start))
    write_dataset(dataset, out)
    elapsed = time.perf_counter() - began
    fraud = int(dataset["label"].sum())
    typer.echo(
        f"wrote {len(dataset):,} transactions ({fraud:,} fraud, {fraud / max(len(dataset), 1):.2%})"
        f" of {accounts:,} accounts over {days} days to {out} in {elapsed:.1f}s"
    )
    counts = dataset["scenario"].value_counts()
    for scenario, count in sorted(counts.items(), key=lambda item: str(item[0])):
        typer.echo(f"  {scenario}: {count:,}")


def import_command(
    source: Annotated[Path, typer.Argument(help="The CSV file to import.", dir_okay=False)],
    mapping: Annotated[
        Path, typer.Option("--mapping", "-m", help="YAML file mapping its columns to Vigil fields.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Dataset file to write (.csv or .parquet).")
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Write the valid rows and put invalid ones, with reasons, in <out>.rejects.csv.",
        ),
    ] = False,
) -> None:
    """Import a CSV from another system into Vigil's dataset format."""
    from training.importer import import_file  # noqa: PLC0415 - keep `vigil --help` fast

    _check_dataset_path(out, "--out")
    summary = import_file(source, mapping, out, skip_invalid=skip_invalid)
    typer.echo(f"read {summary.rows_read:,} rows from {source}")
    typer.echo(f"wrote {summary.rows_written:,} rows to {summary.output}")
    rejected = f"rejected {summary.rows_rejected:,} rows"
    if summary.rejects is not None:
        rejected += f" (reasons in {summary.rejects})"
    typer.echo(rejected, err=summary.rows_rejected > 0)


def _check_dataset_path(path: Path, option: str) -> None:
    if path.suffix not in _DATASET_SUFFIXES:
        raise InvalidInputError(
            "cannot write the dataset",
            [Problem(option, f"{path} must end in .csv or .parquet")],
        )


def _parse_start(text: str) -> datetime:
    """An ISO 8601 date or date-time; one without an offset is taken as UTC (as --help says)."""
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            "cannot generate a dataset",
            [Problem("--start", f"{text!r} is not an ISO 8601 date, e.g. 2024-01-01")],
        ) from None
    return start if start.tzinfo is not None else start.replace(tzinfo=UTC)
