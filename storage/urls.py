"""Which PostgreSQL and Redis Vigil talks to: the one place that turns settings into URLs.

Two questions, one rule each:

* :func:`resolve_url` — for commands run on this machine (``vigil db``, ``vigil ui``,
  ``vigil users``, ``vigil keys``, ``vigil writer``): the configured URL (``VIGIL_DATABASE_URL`` /
  ``VIGIL_REDIS_URL`` or the settings file), else the embedded server running under ``data_dir``
  (``vigil up`` starts it), else :class:`~core.errors.DependencyUnavailableError` naming both ways
  out.
* :func:`require_url` — for code that runs where the URL must be set by now (Serve replicas and
  the gateway they build, ``vigil up`` once it has started the embedded servers): the configured
  URL, else :class:`~core.errors.ConfigError` naming the variable to set. It never looks for an
  embedded server: a replica may run on another node, where ``data_dir`` means nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from core.errors import ConfigError, DependencyUnavailableError, Problem

if TYPE_CHECKING:
    from config.settings import Settings
    from storage.embedded import EmbeddedPostgres, EmbeddedRedis

ServiceUrl = Literal["database_url", "redis_url"]
"""The settings that name a service Vigil needs."""

_DESCRIBED: Final[dict[ServiceUrl, tuple[str, str]]] = {
    "database_url": ("database URL", "PostgreSQL"),
    "redis_url": ("Redis URL", "Redis"),
}


def env_variable(name: ServiceUrl) -> str:
    """The environment variable that sets ``name``: ``VIGIL_DATABASE_URL`` / ``VIGIL_REDIS_URL``."""
    return f"VIGIL_{name.upper()}"


def require_url(settings: Settings, name: ServiceUrl) -> str:
    """``settings.<name>``, which must be set by now; else a :class:`ConfigError` naming it."""
    value = getattr(settings, name)
    if not value:
        raise ConfigError(
            f"{name} is not set",
            [Problem(env_variable(name), "set it, or start Vigil with `vigil up`")],
        )
    return str(value)


def resolve_url(settings: Settings, name: ServiceUrl) -> str:
    """The configured URL, else the running embedded server's; else a clear error.

    Raises :class:`DependencyUnavailableError` when neither is there, saying how to fix it.
    """
    configured = getattr(settings, name)
    if configured:
        return str(configured)
    server = _embedded(settings, name)
    url = server.url()
    if url is None:
        what, product = _DESCRIBED[name]
        variable = env_variable(name)
        raise DependencyUnavailableError(
            f"no {what} is set ({variable} or `{name}` in the settings file) and no embedded "
            f"{product} is running under {server.directory}; start it with `vigil up` or set "
            f"{variable}"
        )
    return url


def _embedded(settings: Settings, name: ServiceUrl) -> EmbeddedPostgres | EmbeddedRedis:
    from storage.embedded import embedded_postgres, embedded_redis  # noqa: PLC0415 - CLI start-up

    if name == "database_url":
        return embedded_postgres(settings.data_dir)
    return embedded_redis(settings.data_dir)
