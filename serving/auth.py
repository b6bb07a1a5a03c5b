"""API-key authentication: the hook every ``/v1`` route passes through.

A client sends ``Authorization: Bearer <key>``. An injected :class:`ApiKeyVerifier` says whose key
it is and which scopes it carries; the guard from :func:`api_key_guard` checks the scope the route
declares (``opt=requires(Scope.READ)``) and leaves the :class:`Principal` on the connection for
handlers that record who acted. Missing or unknown keys are :class:`core.errors.AuthError` (401),
a key without the scope is :class:`core.errors.ForbiddenError` (403). ``admin`` implies every scope.

With authentication disabled (local development) every request acts as :data:`LOCAL_DEVELOPER`.
Key management (issuing, storing hashed, revoking) is a later concern; it only has to provide an
``ApiKeyVerifier``. :class:`StaticApiKeyVerifier` serves tests and fixed deployments.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import Any, Final, Protocol

import msgspec
import structlog
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from core.errors import AuthError, ConfigError, ForbiddenError

SCOPE_OPT: Final = "vigil_scope"
"""The ``opt`` key under which a route handler declares the scope it needs."""
PRINCIPAL_STATE: Final = "vigil_principal"
"""The connection-state key under which the guard leaves the authenticated principal."""
BEARER: Final = "bearer"
_OPTIONS_ONLY: Final = frozenset({"OPTIONS"})


class Scope(enum.StrEnum):
    """What an API key may do."""

    SCORE = "score"
    """Submit transactions for scoring."""
    READ = "read"
    """Read stored decisions and alerts."""
    ADMIN = "admin"
    """Everything, including labelling alerts and (later) managing keys."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: a key's id, the name recorded on actions, and its scopes."""

    key_id: str
    subject: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        """Whether this principal holds ``scope`` (``admin`` holds every scope)."""
        return scope in self.scopes or Scope.ADMIN in self.scopes


LOCAL_DEVELOPER: Final = Principal(
    key_id="auth-disabled", subject="local-developer", scopes=frozenset(Scope)
)
"""Who every request acts as when authentication is disabled."""


class ApiKeyVerifier(Protocol):
    """Resolves a presented API key to the principal it belongs to."""

    async def verify(self, api_key: str) -> Principal | None:
        """The key's principal, or ``None`` when the key is unknown or revoked."""
        ...


class StaticApiKeyVerifier:
    """A fixed set of keys held as SHA-256 digests (the keys themselves are not kept)."""

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self._by_digest = {_digest(key): principal for key, principal in keys.items()}

    async def verify(self, api_key: str) -> Principal | None:
        """The principal of ``api_key``, if it is one of the configured keys."""
        return self._by_digest.get(_digest(api_key))


def _digest(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode()).digest()


def requires(scope: Scope) -> dict[str, Any]:
    """Route-handler ``opt`` declaring the scope a route needs: ``@get(..., opt=requires(...))``."""
    return {SCOPE_OPT: scope}


def api_key_guard(verifier: ApiKeyVerifier | None, *, enabled: bool) -> Guard:
    """The guard of every ``/v1`` route: authenticate the key, check the route's scope.

    A closure rather than an object: Litestar deep-copies routers (and their guards) when it
    registers them, and the verifier it closes over must stay the one that was injected.
    """
    if enabled and verifier is None:
        raise ConfigError("authentication is enabled but no ApiKeyVerifier was given")

    async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        if not enabled or verifier is None:
            return LOCAL_DEVELOPER
        principal = await verifier.verify(bearer_token(connection.headers.get("authorization")))
        if principal is None:
            raise AuthError("the API key is unknown or revoked")
        return principal

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if getattr(handler, "http_methods", None) == _OPTIONS_ONLY:
            return  # Litestar's generated OPTIONS handler only lists the allowed methods
        scope = handler.opt.get(SCOPE_OPT)
        if not isinstance(scope, Scope):
            # Fail closed: a /v1 route that forgot to declare its scope is a bug, not public.
            raise TypeError(f"route {handler.handler_name!r} declares no scope (opt=requires(...))")
        principal = await authenticate(connection)
        structlog.contextvars.bind_contextvars(api_key_id=principal.key_id)
        if not principal.allows(scope):
            raise ForbiddenError(f"this API key lacks the {scope.value!r} scope")
        connection.state[PRINCIPAL_STATE] = principal

    return guard


def bearer_token(authorization: str | None) -> str:
    """The key in an ``Authorization: Bearer <key>`` header; :class:`AuthError` if there is none."""
    if not authorization:
        raise AuthError("an API key is required: send 'Authorization: Bearer <key>'")
    kind, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if kind.lower() != BEARER or not token:
        raise AuthError("the Authorization header must be 'Bearer <key>'")
    return token


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal the guard authenticated for this request."""
    principal = connection.state.get(PRINCIPAL_STATE)
    if not isinstance(principal, Principal):
        raise TypeError("no authenticated principal: is the route behind api_key_guard?")
    return principal
