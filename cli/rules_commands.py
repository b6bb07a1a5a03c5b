"""``vigil rules ...``: work with rule files offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.context import CliState

EXIT_INVALID = 1
"""``vigil rules check`` exit code when the rules do not load (2 is a usage error)."""

rules_app = typer.Typer(
    name="rules",
    help="Check fraud rule files (config/rules/*.yaml).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``rules`` subcommands to ``app``."""
    app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def check(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            exists=True,
            metavar="PATH",
            help="A rule directory (its *.yaml files) or one rule file.",
            show_default=False,
        ),
    ],
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            metavar="FILE",
            help="Feature spec file the rules may use (default: the configured features_file).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Validate rules exactly as the engine loads them; print every problem as file:line:col.

    Exit code 0: the rules load; 1: they do not (each problem is printed); 2: usage error.
    """
    from core.errors import RuleSetError  # noqa: PLC0415 - keep `vigil --help` fast
    from rules.loader import load_rule_set  # noqa: PLC0415

    state = ctx.find_object(CliState) or CliState()
    names = feature_names(features or state.settings.features_file)
    try:
        rule_set = load_rule_set(path, names)
    except RuleSetError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(exc.summary, err=True)
        raise typer.Exit(EXIT_INVALID) from None
    enabled = len(rule_set.enabled_rules)
    files = len(rule_set.files)
    typer.echo(
        f"{path}: ok, {len(rule_set.rules)} rules ({enabled} enabled) in {files} "
        f"file{'s' if files != 1 else ''}, version {rule_set.version}"
    )


def feature_names(features_file: Path) -> tuple[str, ...]:
    """The feature names declared in ``features_file`` (the variables rules may read)."""
    from features.spec import load_feature_set  # noqa: PLC0415 - keep `vigil --help` fast

    return load_feature_set(features_file).names
