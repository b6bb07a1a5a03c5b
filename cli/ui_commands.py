"""``vigil ui`` (serve the analysts' web app) and ``vigil users ...`` (its accounts).

Both use ``database_url`` / ``redis_url`` from the settings, or the running embedded servers
under ``data_dir`` when a URL is unset (``vigil up`` starts them). The database must be at the
newest schema revision (``vigil db upgrade``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.context import CliState
from core.errors import DependencyUnavailableError, InvalidInputError
from storage.urls import resolve_url

if TYPE_CHECKING:
    from storage.users import Role, User, UserStore

T = TypeVar("T")
users_app = typer.Typer(
    name="users", help="Accounts of the web app (analysts and admins).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``vigil ui`` and the ``vigil users`` subcommands to ``app``."""
    app.command("ui")(ui_command)
    app.add_typer(users_app, name="users")


def ui_command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: ui_host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: ui_port, 8080).", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the analysts' web app until Ctrl-C (live alerts, investigations, rules, scaling)."""
    from ui.app import run_ui  # noqa: PLC0415 - imports NiceGUI

    settings = _state(ctx).settings
    database_url = resolve_url(settings, "database_url")
    require_schema(database_url)
    update: dict[str, object] = {
        "database_url": database_url,
        "redis_url": resolve_url(settings, "redis_url"),
    }
    if host is not None:
        update["ui_host"] = host
    if port is not None:
        update["ui_port"] = port
    settings = settings.model_copy(update=update)
    typer.echo(f"web UI: http://{settings.ui_host}:{settings.ui_port}  (Ctrl-C stops it)")
    run_ui(settings)


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Lowercase login name, e.g. alice.")],
    role: Annotated[
        str, typer.Option(help="analyst (labels alerts) or admin (also rules and scaling).")
    ] = "analyst",
    name: Annotated[str | None, typer.Option(help="Display name (default: the username).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account; the password is asked for (twice) unless --password-stdin."""
    from storage.users import check_password  # noqa: PLC0415

    chosen = _role(role)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problems = check_password(password, username)
    if problems:
        raise InvalidInputError("invalid password", problems)
    user = _run(
        ctx, lambda store: store.add_user(username, password, role=chosen, display_name=name)
    )
    typer.echo(f"added {user.role.value} {user.username} ({user.display_name})")


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """List the accounts with their role, state and last sign-in."""

    async def read(store: UserStore) -> list[User]:
        return await store.list_users()

    users = _run(ctx, read)
    if not users:
        typer.echo("no accounts yet; add one with `vigil users add <name> --role admin`")
        return
    typer.echo(f"{'USERNAME':<24} {'ROLE':<8} {'STATE':<9} {'LAST SIGN-IN (UTC)':<20} NAME")
    for user in users:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        state = "disabled" if user.disabled else "active"
        typer.echo(
            f"{user.username:<24} {user.role.value:<8} {state:<9} {last:<20} {user.display_name}"
        )


@users_app.command("disable")
def disable_user(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="The account to disable.")]
) -> None:
    """Disable an account: it cannot sign in and its open sessions end at once."""
    user = _run(ctx, lambda store: store.set_disabled(username, disabled=True))
    typer.echo(f"disabled {user.username}")


@users_app.command("enable")
def enable_user(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="The account to enable.")]
) -> None:
    """Enable a disabled account again."""
    user = _run(ctx, lambda store: store.set_disabled(username, disabled=False))
    typer.echo(f"enabled {user.username}")


def _run(ctx: typer.Context, action: Callable[[UserStore], Awaitable[T]]) -> T:
    """Run ``action`` on a user store for the configured database."""
    from cli.database import run_on_database  # noqa: PLC0415 - it imports this module
    from storage.users import UserStore  # noqa: PLC0415 - keep `vigil --help` fast

    return run_on_database(ctx, lambda engine: action(UserStore(engine)))


def require_schema(database_url: str) -> None:
    """Refuse to work on a database that is not at the newest schema revision."""
    from storage.migrations import current_revision, head_revision  # noqa: PLC0415

    current = asyncio.run(current_revision(database_url))
    if current != head_revision():
        raise DependencyUnavailableError(
            f"the database is at schema revision {current or 'none'}, not {head_revision()}; "
            "run `vigil db upgrade` first"
        )


def _role(value: str) -> Role:
    from storage.users import Role  # noqa: PLC0415

    try:
        return Role(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a role; use analyst or admin", param_hint="--role"
        ) from None


def _state(ctx: typer.Context) -> CliState:
    return ctx.find_object(CliState) or CliState()
