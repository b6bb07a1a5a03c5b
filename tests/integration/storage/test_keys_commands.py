"""``vigil keys create/list/revoke`` against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli import keys_commands
from config.settings import Settings
from core.errors import InvalidInputError, NotFoundError
from storage.api_keys import key_prefix
from tests.cli_apps import cli_with


def cli(settings: Settings) -> typer.Typer:
    """A `vigil`-like app with the key commands, using ``settings``."""
    return cli_with(keys_commands.register, settings)


def test_create_prints_the_key_once(database_url: str, db_engine: AsyncEngine) -> None:
    """The key is printed alone on stdout, with a warning that it will not be shown again;
    listings show its prefix and scopes but never the key."""
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    created = runner.invoke(
        app, ["keys", "create", "--name", "payments-api", "--scope", "score", "--scope", "read"]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    prefix = key_prefix(key)
    assert prefix is not None
    assert "will not be shown again" in created.stderr
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"vgl_{prefix}_..." in listed.stdout
    assert "payments-api" in listed.stdout
    assert "read,score" in listed.stdout
    assert key not in listed.output
    assert key.split("_", 2)[2] not in listed.output


def test_revoke_by_prefix_then_list_shows_revoked(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """A revoked key is listed as revoked, and left out with --active."""
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    key = runner.invoke(app, ["keys", "create", "--name", "old", "--scope", "read"]).stdout.strip()
    revoked = runner.invoke(app, ["keys", "revoke", f"vgl_{key_prefix(key)}"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked API key 1 " in revoked.stdout
    assert "revoked" in runner.invoke(app, ["keys", "list"]).stdout
    assert "no API keys yet" in runner.invoke(app, ["keys", "list", "--active"]).stdout


def test_bad_input_is_a_vigil_error(database_url: str, db_engine: AsyncEngine) -> None:
    """An unknown scope and an unknown key are Vigil errors naming what is wrong."""
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    scope = runner.invoke(app, ["keys", "create", "--name", "x", "--scope", "root"])
    assert isinstance(scope.exception, InvalidInputError)
    assert "'root' is not a scope" in str(scope.exception)
    unknown = runner.invoke(app, ["keys", "revoke", "nosuchkey"])
    assert isinstance(unknown.exception, NotFoundError)
    assert "nosuchkey" in str(unknown.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--name", "x", "--scope", "root"], "'root' is not a scope"),
        (["revoke", "999999"], "no API key with id or prefix '999999'"),
    ],
)
def test_vigil_exits_2_on_bad_input(
    database_url: str, db_engine: AsyncEngine, args: list[str], message: str
) -> None:
    """The real `vigil` command prints the error (no traceback) and exits with 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env |= {"VIGIL_DATABASE_URL": database_url, "VIGIL_LOG_LEVEL": "warning"}
    result = subprocess.run(  # noqa: S603 - our own entry point with fixed arguments
        [sys.executable, "-c", "from cli.main import main; main()", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
