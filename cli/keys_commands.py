"""``vigil keys create|list|revoke``: the gateway's API keys (:mod:`storage.api_keys`).

They use ``database_url`` from the settings, or the running embedded PostgreSQL under
``data_dir`` (``vigil up`` starts it); the database must be at the newest schema revision.
A new key is printed once, alone on standard output (so ``KEY=$(vigil keys create ...)`` works),
with the notes on standard error; listings never show a key's secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.database import login, run_on_database
from core.access import Scope
from core.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    from datetime import datetime

    from storage.api_keys import ApiKey, ApiKeyStore

T = TypeVar("T")
keys_app = typer.Typer(
    name="keys", help="API keys of the HTTP gateway (create, list, revoke).", no_args_is_help=True
)
_SCOPE_NAMES = ", ".join(scope.value for scope in Scope)


def register(app: typer.Typer) -> None:
    """Add the ``vigil keys`` subcommands to ``app``."""
    app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Option(help="Who or what uses the key, e.g. payments-api.", show_default=False)
    ],
    scope: Annotated[
        list[str],
        typer.Option(
            help=f"A scope the key holds ({_SCOPE_NAMES}; admin implies all); repeat for more.",
            show_default=False,
        ),
    ],
) -> None:
    """Issue a key and print it once: it cannot be shown again."""
    scopes = parse_scopes(scope)
    created_by = f"cli:{login()}"
    issued = _run(ctx, lambda store: store.create(name, scopes, created_by=created_by))
    key = issued.key
    typer.echo(
        f"created API key {key.id} ({key.display}) named {key.name!r} with scopes "
        f"{', '.join(sorted(key.scopes))}:",
        err=True,
    )
    typer.echo(issued.secret)
    typer.echo(
        "Store it now: it will not be shown again. Send it as 'Authorization: Bearer <key>'.",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    active: Annotated[bool, typer.Option("--active", help="Only keys not revoked.")] = False,
) -> None:
    """List the keys: id, prefix, name, scopes, state, creation and last use (never secrets)."""

    async def read(store: ApiKeyStore) -> list[ApiKey]:
        return await store.list_keys(include_revoked=not active)

    keys = _run(ctx, read)
    if not keys:
        typer.echo("no API keys yet; create one with `vigil keys create --name NAME --scope read`")
        return
    typer.echo(
        f"{'ID':>5}  {'KEY':<17} {'NAME':<24} {'SCOPES':<18} {'STATE':<8} "
        f"{'CREATED (UTC)':<17} {'LAST USED (UTC)':<17} CREATED BY"
    )
    for key in keys:
        typer.echo(
            f"{key.id:>5}  {key.display:<17} {key.name:<24} {','.join(sorted(key.scopes)):<18} "
            f"{'revoked' if key.revoked else 'active':<8} {_when(key.created_at):<17} "
            f"{_when(key.last_used_at):<17} {key.created_by}"
        )


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context,
    id_or_prefix: Annotated[
        str, typer.Argument(help="The key's id or prefix, as `vigil keys list` shows them.")
    ],
) -> None:
    """Revoke a key; gateways refuse it within `api_key_cache_ttl_s` seconds (5 by default)."""
    key = _run(ctx, lambda store: store.revoke(id_or_prefix))
    typer.echo(f"revoked API key {key.id} ({key.display}) named {key.name!r}")


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    """The scopes named in ``values``; :class:`InvalidInputError` naming any unknown one."""
    problems = [
        Problem("--scope", f"{value!r} is not a scope; use {_SCOPE_NAMES}")
        for value in values
        if value not in set(Scope)
    ]
    if not values:
        problems.append(Problem("--scope", f"give at least one scope: {_SCOPE_NAMES}"))
    if problems:
        raise InvalidInputError("invalid API key scopes", problems)
    return frozenset(Scope(value) for value in values)


def _run(ctx: typer.Context, action: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """Run ``action`` on the key store of the configured database."""
    from storage.api_keys import ApiKeyStore  # noqa: PLC0415 - keep `vigil --help` fast

    return run_on_database(ctx, lambda engine: action(ApiKeyStore(engine)))


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "never"
