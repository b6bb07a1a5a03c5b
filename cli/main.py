"""Entry point of the ``vigil`` command.

Each topic registers its subcommands from its own module; heavy libraries are imported inside the
commands so that ``vigil --help`` stays fast. Every :class:`core.errors.VigilError` is printed as a
clear message (what is wrong and where) with exit code 2, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import (
    data_commands,
    db_commands,
    deploy_commands,
    engine_commands,
    keys_commands,
    labels_commands,
    model_commands,
    registry_commands,
    rules_commands,
    ui_commands,
)
from cli.context import CliState
from core.errors import VigilError

app = typer.Typer(
    name="vigil",
    help="Vigil: real-time fraud detection with rules and machine learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML settings file (overridden by VIGIL_* environment variables).",
            envvar="VIGIL_CONFIG_FILE",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Vigil: real-time fraud detection with rules and machine learning."""
    entry = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    ctx.obj = CliState(config_file=config, configure_logging=entry.configure_logging)


data_commands.register(app)
model_commands.register(app)
rules_commands.register(app)
db_commands.register(app)
engine_commands.register(app)
deploy_commands.register(app)
ui_commands.register(app)
keys_commands.register(app)
labels_commands.register(app)
registry_commands.register(app)


def main() -> None:
    """Run the CLI, turning Vigil's errors into messages and exit code 2.

    This is the ``vigil`` process's entry point, so it is where logging gets configured (when a
    command first reads the settings, see :class:`cli.context.CliState`).
    """
    try:
        app(obj=CliState(configure_logging=True))
    except VigilError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
