"""``vigil models register/list/promote/rollback/challenger`` against the test database."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli import registry_commands
from config.settings import REPO_DIR, Settings
from core.errors import InvalidInputError, ModelArtifactError, NotFoundError
from tests.cli_apps import cli_with

DEFAULT_MODEL = REPO_DIR / "artifacts" / "default"


def cli(settings: Settings) -> typer.Typer:
    """A `vigil`-like app with the model registry commands, using ``settings``."""
    return cli_with(registry_commands.register, settings)


def test_register_list_promote_and_nothing_to_roll_back(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """The shipped artifact registers once, lists with its role, and promotes in the registry
    only (without --gateway, which the command says); a lone champion has nothing to roll back."""
    del db_engine  # tables emptied first
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    registered = runner.invoke(app, ["models", "register", str(DEFAULT_MODEL)])
    assert registered.exit_code == 0, registered.output
    version = registered.stdout.split()[1]
    assert version.startswith("xgb-if-")
    again = runner.invoke(app, ["models", "register", str(DEFAULT_MODEL)])
    assert again.stdout.startswith("already registered")
    promoted = runner.invoke(app, ["models", "promote", version])
    assert promoted.exit_code == 0, promoted.output
    assert f"champion {version}, challenger none" in promoted.stdout
    assert "next start" in promoted.stderr
    listed = runner.invoke(app, ["models", "list"])
    assert f"{version}  champion" in listed.stdout
    rollback = runner.invoke(app, ["models", "rollback"])
    assert isinstance(rollback.exception, InvalidInputError)
    assert "did not replace another registered model" in str(rollback.exception)


def test_bad_input_is_named(database_url: str, db_engine: AsyncEngine, tmp_path: Path) -> None:
    """A directory without an artifact, an unknown version, neither or both of VERSION and
    --clear, and --api-key without --gateway are refused with what is wrong."""
    del db_engine
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    empty = runner.invoke(app, ["models", "register", str(tmp_path)])
    assert isinstance(empty.exception, ModelArtifactError)
    assert "not a model artifact" in str(empty.exception)
    unknown = runner.invoke(app, ["models", "promote", "nope"])
    assert isinstance(unknown.exception, NotFoundError)
    neither = runner.invoke(app, ["models", "challenger"])
    assert isinstance(neither.exception, InvalidInputError)
    assert "VERSION / --clear" in str(neither.exception)
    both = runner.invoke(app, ["models", "challenger", "v1", "--clear"])
    assert isinstance(both.exception, InvalidInputError)
    keyed = runner.invoke(app, ["models", "rollback", "--api-key", "k"])
    assert isinstance(keyed.exception, InvalidInputError)
    assert "--api-key" in str(keyed.exception)
    since = runner.invoke(app, ["models", "compare", "--since", "yesterday"])
    assert isinstance(since.exception, InvalidInputError)
    assert "--since" in str(since.exception)
