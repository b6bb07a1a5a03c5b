"""`vigil db upgrade` and `vigil db current`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import db_commands
from cli.context import CliState
from core.errors import DependencyUnavailableError
from storage.migrations import head_revision

EmptyDatabase = Callable[[], Awaitable[str]]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = CliState()

    db_commands.register(app)
    return app


@pytest.fixture
def vigil_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only the VIGIL_* variables a test sets (the test-server URLs are not settings)."""
    for name in ("VIGIL_TEST_DATABASE_URL", "VIGIL_TEST_REDIS_URL", "VIGIL_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "var"))
    return monkeypatch


async def test_upgrade_then_current(
    empty_database: EmptyDatabase, vigil_env: pytest.MonkeyPatch
) -> None:
    """`db upgrade` migrates the configured database; `db current` then says it is up to date."""
    vigil_env.setenv("VIGIL_DATABASE_URL", await empty_database())
    runner = CliRunner()
    upgraded = await asyncio.to_thread(runner.invoke, _app(), ["db", "upgrade"])
    current = await asyncio.to_thread(runner.invoke, _app(), ["db", "current"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"is at revision {head_revision()}" in upgraded.output
    assert "up to date" in current.output


def test_without_url_or_embedded_server_says_what_to_do(vigil_env: pytest.MonkeyPatch) -> None:
    """No URL and no running embedded server: a clear error naming both ways out."""
    result = CliRunner().invoke(_app(), ["db", "upgrade"])
    assert isinstance(result.exception, DependencyUnavailableError)
    assert "VIGIL_DATABASE_URL" in str(result.exception)
    assert "vigil up" in str(result.exception)
