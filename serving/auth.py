"""API-key authentication: the hook every ``/v1`` route passes through.

A client sends ``Authorization: Bearer <key>``. An injected :class:`ApiKeyVerifier` says whose key
it is and which scopes it carries; the guard from :func:`api_key_guard` checks the scope the route
declares (``opt=requires(Scope.READ)``) and leaves the :class:`Principal` on the connection for
handlers that record who acted. Missing or unknown keys are :class:`core.errors.AuthError` (401),
a key without the scope is :class:`core.errors.ForbiddenError` (403). ``admin`` implies every scope.

Once a key is authenticated, an optional :class:`RateLimiter` counts the request against the key's
limit (:class:`core.errors.RateLimitedError`, 429 with ``Retry-After``); a batch is counted as one
request here and its other transactions by its handler. The limit lives here, in the guard, rather
than in Litestar's ``RateLimitMiddleware``: that middleware counts per client address in its own
store, while Vigil limits per API key (many clients may share an address, one key may come from
many) in the Redis every gateway replica already shares. An optional :class:`AuthFailureLimiter`
counts the requests refused with 401 per client address and refuses an address over its limit
with 429 before its key is looked up, so guessing keys does not cost a database query each.

With authentication disabled (local development) every request acts as :data:`LOCAL_DEVELOPER`.
Keys are issued, stored hashed and revoked by :mod:`storage.api_keys`;
:class:`serving.key_verifier.CachingApiKeyVerifier` checks them for the gateway.
:class:`StaticApiKeyVerifier` serves tests and fixed deployments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final, Protocol

import msgspec
import structlog
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from core.access import Scope
from core.errors import AuthError, ConfigError, ForbiddenError

__all__ = [
    "BEARER",
    "LOCAL_DEVELOPER",
    "PRINCIPAL_STATE",
    "SCOPE_OPT",
    "ApiKeyVerifier",
    "AuthFailureLimiter",
    "Principal",
    "RateLimiter",
    "Scope",
    "StaticApiKeyVerifier",
    "api_key_guard",
    "bearer_token",
    "client_address",
    "principal_of",
    "requires",
]

SCOPE_OPT: Final = "vigil_scope"
"""The ``opt`` key under which a route handler declares the scope it needs."""
PRINCIPAL_STATE: Final = "vigil_principal"
"""The connection-state key under which the guard leaves the authenticated principal."""
BEARER: Final = "bearer"
_OPTIONS_ONLY: Final = frozenset({"OPTIONS"})


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


class RateLimiter(Protocol):
    """Counts requests per key id and refuses those over the limit."""

    async def hit(self, key_id: str, requests: int = 1, *, counted: int = 0) -> None:
        """Count a request of ``key_id`` worth ``requests`` (a batch: one per transaction).

        ``counted`` of them were already counted for this request (by the guard). Either all of
        them fit in the key's limit, or none is counted and :class:`RateLimitedError` is raised.
        """
        ...


class AuthFailureLimiter(Protocol):
    """Counts requests refused with 401 per client address; refuses addresses over the limit."""

    def check(self, client: str) -> None:
        """:class:`RateLimitedError` while ``client`` is over its limit (cheap: no I/O)."""
        ...

    async def failed(self, client: str) -> None:
        """Count one failure of ``client``; :class:`RateLimitedError` once it is over the limit."""
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


def api_key_guard(
    verifier: ApiKeyVerifier | None,
    *,
    enabled: bool,
    rate_limiter: RateLimiter | None = None,
    auth_failures: AuthFailureLimiter | None = None,
) -> Guard:
    """The guard of every ``/v1`` route: authenticate the key, count it, check the route's scope.

    ``rate_limiter`` (when given and authentication is enabled) counts every authenticated
    request as one, whatever its scope, before the scope is checked. ``auth_failures`` (likewise)
    refuses an address over its limit of failed authentications before its key is looked up, and
    counts each 401.

    A closure rather than an object: Litestar deep-copies routers (and their guards) when it
    registers them, and the verifier it closes over must stay the one that was injected.
    """
    if enabled and verifier is None:
        raise ConfigError("authentication is enabled but no ApiKeyVerifier was given")

    async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        if not enabled or verifier is None:
            return LOCAL_DEVELOPER
        client = client_address(connection)
        if auth_failures is not None:
            auth_failures.check(client)
        try:
            return await _principal(verifier, connection.headers.get("authorization"))
        except AuthError:
            if auth_failures is not None:
                await auth_failures.failed(client)
            raise

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
        if enabled and rate_limiter is not None:
            await rate_limiter.hit(principal.key_id)
        if not principal.allows(scope):
            raise ForbiddenError(f"this API key lacks the {scope.value!r} scope")
        connection.state[PRINCIPAL_STATE] = principal

    return guard


async def _principal(verifier: ApiKeyVerifier, authorization: str | None) -> Principal:
    principal = await verifier.verify(bearer_token(authorization))
    if principal is None:
        raise AuthError("the API key is unknown or revoked")
    return principal


def bearer_token(authorization: str | None) -> str:
    """The key in an ``Authorization: Bearer <key>`` header; :class:`AuthError` if there is none."""
    if not authorization:
        raise AuthError("an API key is required: send 'Authorization: Bearer <key>'")
    kind, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if kind.lower() != BEARER or not token:
        raise AuthError("the Authorization header must be 'Bearer <key>'")
    return token


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address the request came from, as the gateway sees it (a proxy's, behind one)."""
    client = connection.client
    return client.host if client is not None and client.host else "unknown"


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal the guard authenticated for this request."""
    principal = connection.state.get(PRINCIPAL_STATE)
    if not isinstance(principal, Principal):
        raise TypeError("no authenticated principal: is the route behind api_key_guard?")
    return principal
