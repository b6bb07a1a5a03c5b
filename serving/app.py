"""The gateway's one factory: :func:`create_app` builds the Litestar app from injected parts.

On Ray Serve the app is built on the replica (a builder function calls ``create_app``), because a
Litestar app cannot be pickled; tests call it with in-process fakes. Nothing here reads the
environment or opens a connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Final

import structlog
from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from core.clock import Clock
from engine.contracts import Scorer
from serving.auth import ApiKeyVerifier, AuthFailureLimiter, RateLimiter, api_key_guard
from serving.deps import dependencies
from serving.errors import handle_exception
from serving.labels import LabelPublisher, LabelRecords
from serving.operations import Operations
from serving.readiness import ReadinessChecker
from serving.records import Records
from serving.request_log import RequestLogMiddleware
from serving.routes.admin import admin_router
from serving.routes.alerts import alerts_router
from serving.routes.health import health, ready
from serving.routes.labels import labels_router
from serving.routes.transactions import transactions_router
from serving.settings import GatewaySettings

API_KEY_SCHEME: Final = "apiKey"
OPENAPI_PATH: Final = "/schema"

_log = structlog.get_logger("vigil.serving")


def create_app(
    *,
    settings: GatewaySettings,
    scorer: Scorer,
    records: Records,
    readiness: ReadinessChecker,
    clock: Clock,
    verifier: ApiKeyVerifier | None = None,
    rate_limiter: RateLimiter | None = None,
    auth_failures: AuthFailureLimiter | None = None,
    operations: Operations | None = None,
    labels: LabelRecords | None = None,
    label_publisher: LabelPublisher | None = None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> Litestar:
    """The HTTP gateway wired to ``scorer``, ``records`` and ``readiness``.

    ``verifier`` resolves API keys and is required unless ``settings.auth_enabled`` is false
    (local development; a warning is logged); ``rate_limiter``, when given, limits each key's
    requests (a batch counts one per transaction); ``auth_failures``, when given, limits the
    requests refused with 401 per client address. ``operations`` backs the ``/v1/admin`` routes,
    which are only served when it is given. ``labels`` backs ``POST /v1/labels``, served only
    when it is given; ``label_publisher``, when given, pushes recorded labels (and alert
    verdicts) to the online feature store (:mod:`serving.labels`). ``on_shutdown`` hooks run
    when the app stops (close the database engine, the Redis client).
    """
    if not settings.auth_enabled:
        _log.warning("auth_disabled", acting_as="local-developer", scopes="all")
        rate_limiter = auth_failures = None  # without keys there is nobody to count
    guard = api_key_guard(
        verifier,
        enabled=settings.auth_enabled,
        rate_limiter=rate_limiter,
        auth_failures=auth_failures,
    )
    routers = [transactions_router(), alerts_router()]
    if labels is not None:
        routers.append(labels_router())
    if operations is not None:
        routers.append(admin_router())
    v1 = Router(
        path="/v1",
        route_handlers=routers,
        guards=[guard],
        # The schema tells the truth: with authentication off no route asks for a key.
        security=[{API_KEY_SCHEME: []}] if settings.auth_enabled else None,
    )
    return Litestar(
        route_handlers=[health, ready, v1],
        dependencies=dependencies(
            scorer=scorer,
            records=records,
            readiness=readiness,
            clock=clock,
            settings=settings,
            operations=operations,
            rate_limiter=rate_limiter,
            labels=labels,
            label_publisher=label_publisher,
        ),
        exception_handlers={Exception: handle_exception},
        middleware=[RequestLogMiddleware()],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=_openapi_config(),
        on_shutdown=list(on_shutdown),
        logging_config=None,
        debug=False,
    )


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Vigil",
        version=_package_version(),
        description=(
            "Real-time fraud detection: score transactions, read decisions and alerts, "
            "record known outcomes, operate the engine."
        ),
        path=OPENAPI_PATH,
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                API_KEY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key, sent as `Authorization: Bearer <key>`.",
                )
            }
        ),
    )


def _package_version() -> str:
    try:
        return version("vigil")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
