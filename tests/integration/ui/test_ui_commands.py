"""``vigil users add/list/disable/enable`` against the test database."""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli import ui_commands
from config.settings import Settings
from tests.cli_apps import cli_with

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test account's password


def cli(settings: Settings) -> typer.Typer:
    """A `vigil`-like app with the UI commands, using ``settings``."""
    return cli_with(ui_commands.register, settings)


def test_add_list_disable_enable(database_url: str, db_engine: AsyncEngine) -> None:
    """An admin added from stdin is listed, then disabled and enabled again."""
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["users", "add", "ada", "--role", "admin", "--name", "Ada L", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    assert "added admin ada (Ada L)" in added.output
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0
    assert "ada" in listed.output
    assert "admin" in listed.output
    assert "active" in listed.output
    assert runner.invoke(app, ["users", "disable", "ada"]).output.strip() == "disabled ada"
    assert "disabled" in runner.invoke(app, ["users", "list"]).output
    assert runner.invoke(app, ["users", "enable", "ada"]).output.strip() == "enabled ada"


def test_prompted_password_must_be_confirmed(database_url: str, db_engine: AsyncEngine) -> None:
    """Without --password-stdin the password is asked twice and must match."""
    app = cli(Settings(database_url=database_url))
    result = CliRunner().invoke(app, ["users", "add", "bob"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "added analyst bob (bob)" in result.output


def test_weak_password_and_unknown_role_are_refused(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """A short password and a made-up role never reach the database."""
    app = cli(Settings(database_url=database_url))
    runner = CliRunner()
    short = runner.invoke(app, ["users", "add", "carol", "--password-stdin"], input="short\n")
    assert short.exit_code != 0
    assert "at least 12 characters" in str(short.exception)
    role = runner.invoke(
        app, ["users", "add", "carol", "--role", "boss", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert role.exit_code == 2
    assert "not a role" in role.output
    assert "no accounts yet" in runner.invoke(app, ["users", "list"]).output


def test_disabling_an_unknown_account_fails(database_url: str, db_engine: AsyncEngine) -> None:
    """The error names the account."""
    result = CliRunner().invoke(
        cli(Settings(database_url=database_url)), ["users", "disable", "nobody"]
    )
    assert result.exit_code != 0
    assert "nobody" in str(result.exception)
