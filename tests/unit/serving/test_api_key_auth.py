"""API-key authentication: every /v1 route needs a key with its scope; probes and docs do not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient
from structlog.testing import LogCapture

from core.errors import AuthError, ConfigError
from serving.auth import (
    LOCAL_DEVELOPER,
    SCOPE_OPT,
    Principal,
    Scope,
    StaticApiKeyVerifier,
    api_key_guard,
    bearer_token,
)
from serving.errors import handle_exception
from serving.settings import GatewaySettings
from tests.unit.serving.gateway_fakes import (
    ADMIN_KEY,
    KEYS,
    READ_KEY,
    SCORE_KEY,
    FakeRecords,
    auth,
    transaction_body,
)

Client = AsyncTestClient[Litestar]

ROUTES = [
    ("POST", "/v1/transactions", Scope.SCORE),
    ("POST", "/v1/transactions/batch", Scope.SCORE),
    ("GET", "/v1/transactions/t-1", Scope.READ),
    ("GET", "/v1/alerts", Scope.READ),
    ("POST", "/v1/alerts/1/label", Scope.LABEL),
    ("POST", "/v1/labels", Scope.LABEL),
]


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
async def test_missing_key_is_401_with_challenge(
    client: Client, method: str, path: str, scope: Scope
) -> None:
    """Without a key every /v1 route is 401 with a Bearer challenge, before reading the body."""
    response = await client.request(method, path, content=b"not even json")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:vigil:problem:unauthenticated"


@pytest.mark.parametrize(
    "header", ["Bearer wrong-key", "Basic dXNlcjpwdw==", "Bearer", "bearer  ", SCORE_KEY]
)
async def test_unknown_or_malformed_key_is_401(client: Client, header: str) -> None:
    """Unknown keys and Authorization headers that are not 'Bearer <key>' are 401."""
    response = await client.get("/v1/alerts", headers={"Authorization": header})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/v1/transactions", READ_KEY),
        ("GET", "/v1/alerts", SCORE_KEY),
        ("GET", "/v1/transactions/t-1", SCORE_KEY),
        ("POST", "/v1/alerts/1/label", READ_KEY),
        ("POST", "/v1/labels", SCORE_KEY),
    ],
)
async def test_key_without_the_scope_is_403(
    client: Client, method: str, path: str, key: str
) -> None:
    """A valid key lacking the route's scope is 403 naming the scope."""
    response = await client.request(method, path, json={}, headers=auth(key))
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]


async def test_admin_key_holds_every_scope(client: Client) -> None:
    """The admin scope may score and read as well."""
    scored = await client.post("/v1/transactions", json=transaction_body(), headers=auth(ADMIN_KEY))
    listed = await client.get("/v1/alerts", headers=auth(ADMIN_KEY))
    assert (scored.status_code, listed.status_code) == (200, 200)


async def test_options_requests_need_no_key(client: Client) -> None:
    """CORS-style OPTIONS requests list the allowed methods without a key."""
    response = await client.options("/v1/transactions")
    assert response.status_code == 204
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize("path", ["/health", "/ready", "/schema/openapi.json"])
async def test_probes_and_docs_need_no_key(client: Client, path: str) -> None:
    """Liveness, readiness and the OpenAPI document are public."""
    response = await client.get(path)
    assert response.status_code == 200


def test_every_v1_route_declares_a_scope(build_app: Callable[..., Litestar]) -> None:
    """Each /v1 handler declares the scope it needs (the guard fails closed otherwise)."""
    app = build_app()
    declared = {
        (method, route.path): handler.opt.get(SCOPE_OPT)
        for route in app.routes
        if route.path.startswith("/v1")
        for handler in getattr(route, "route_handlers", [])
        if isinstance(handler, HTTPRouteHandler)
        for method in handler.http_methods
        if method != "OPTIONS"
    }
    assert declared
    assert all(isinstance(scope, Scope) for scope in declared.values()), declared


async def test_disabled_auth_acts_as_local_developer(
    build_app: Callable[..., Litestar], records: FakeRecords, logs: LogCapture
) -> None:
    """With auth disabled requests need no key, act with every scope, and a warning is logged."""
    app = build_app(settings=GatewaySettings(auth_enabled=False), verifier=None)
    assert any(e["event"] == "auth_disabled" and e["log_level"] == "warning" for e in logs.entries)
    async with AsyncTestClient(app=app) as test_client:
        scored = await test_client.post("/v1/transactions", json=transaction_body(amount="500"))
        assert scored.status_code == 200
        labelled = await test_client.post("/v1/alerts/1/label", json={"label": "legit"})
        assert labelled.status_code == 404  # no such alert, but the route was allowed
    assert not records.alerts


def test_enabled_auth_without_verifier_is_a_config_error() -> None:
    """Turning auth on without a way to check keys fails when the app is built."""
    with pytest.raises(ConfigError, match="no ApiKeyVerifier"):
        api_key_guard(None, enabled=True)


async def test_static_verifier_knows_only_its_keys() -> None:
    """The static verifier returns a key's principal and None for anything else."""
    verifier = StaticApiKeyVerifier(KEYS)
    assert await verifier.verify(READ_KEY) == KEYS[READ_KEY]
    assert await verifier.verify(READ_KEY + "x") is None


def test_principal_scopes() -> None:
    """A principal holds its own scopes; admin holds them all; the local developer is admin."""
    reader = Principal(key_id="k", subject="s", scopes=frozenset({Scope.READ}))
    assert reader.allows(Scope.READ)
    assert not reader.allows(Scope.SCORE)
    assert all(LOCAL_DEVELOPER.allows(scope) for scope in Scope)


@pytest.mark.parametrize(
    ("header", "token"), [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("BEARER x.y", "x.y")]
)
def test_bearer_token_parsing(header: str, token: str) -> None:
    """The scheme is case-insensitive and surrounding spaces are ignored."""
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Token abc", "Bearer"])
def test_bearer_token_rejects_other_shapes(header: str | None) -> None:
    """A missing header or another scheme is an AuthError."""
    with pytest.raises(AuthError):
        bearer_token(header)


async def test_guarded_route_without_a_scope_fails_closed() -> None:
    """A guarded route that declares no scope is refused (500), never served publicly."""

    @get("/unscoped", sync_to_thread=False)
    def unscoped() -> str:
        return "secret"

    app = Litestar(
        route_handlers=[
            Router("/v1", route_handlers=[unscoped], guards=[api_key_guard(None, enabled=False)])
        ],
        exception_handlers={Exception: handle_exception},
        logging_config=None,  # Litestar's default would install a root handler for the session
    )
    async with AsyncTestClient(app=app) as test_client:
        response = await test_client.get("/v1/unscoped")
    assert response.status_code == 500
    assert "secret" not in response.text
