"""The gateway's composition root on a Serve replica: ``build_gateway(settings, scorer, ...)``.

The engine's ingress deployment imports this by path (``runtime.app_args.GATEWAY_FACTORY``) and
calls it on the replica with its :class:`~serving.operations.Operations`. It wires the real
collaborators into :func:`serving.app.create_app`: the storage repository on
``settings.database_url``, the label store (``POST /v1/labels``) with the ``label_publisher`` the
runtime passes to reach the online feature store (without one, labels are stored in PostgreSQL only
and answers say ``online: false``), readiness probes for PostgreSQL, Redis and the scoring stages
(rule set and model versions), the admin API when ``operations`` is given, API-key authentication
against the ``api_keys`` table (:class:`~serving.key_verifier.CachingApiKeyVerifier`) unless
``settings.auth_enabled`` is false, the per-key rate limit in Redis when
``settings.rate_limit_requests`` is set, and the per-address limit of failed authentications in
Redis when ``settings.failed_auth_limit`` is. Building opens no connection; the probes connect when
``/ready`` is asked, the key store when the first key is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy import text

from config.fx import load_fx_table
from config.settings import Settings
from core.clock import Clock, SystemClock
from engine.contracts import Scorer
from serving.app import create_app
from serving.auth import ApiKeyVerifier, AuthFailureLimiter, RateLimiter
from serving.key_verifier import CachingApiKeyVerifier
from serving.labels import LabelPublisher
from serving.operations import Operations
from serving.rate_limit import FailedAuthLimiter, RateLimit, RedisRateLimiter
from serving.readiness import ProbeReadiness
from serving.settings import GatewaySettings
from storage.api_keys import ApiKeyStore
from storage.database import create_engine
from storage.labels import LabelStore
from storage.repository import Repository
from storage.urls import require_url

PROBE_TIMEOUT_S = 2.0


def build_gateway(
    settings: Settings,
    scorer: Scorer,
    *,
    operations: Operations | None = None,
    verifier: ApiKeyVerifier | None = None,
    gateway: GatewaySettings | None = None,
    clock: Clock | None = None,
    label_publisher: LabelPublisher | None = None,
) -> Litestar:
    """The gateway app for ``settings`` around ``scorer``.

    ``gateway`` defaults to :class:`GatewaySettings` with ``settings.auth_enabled`` and the FX
    table of ``settings.fx_file`` (currencies without a rate are refused). With
    authentication on, keys are checked by ``verifier``, by default the ``api_keys`` table
    through a cache of ``settings.api_key_cache_ttl_s``; with it off, the app logs
    ``auth_disabled`` as a warning when it is built. ``label_publisher`` pushes recorded labels
    to the online feature store (:class:`serving.labels.LabelPublisher`).
    """
    database_url = require_url(settings, "database_url")
    redis_url = require_url(settings, "redis_url")
    engine = create_engine(database_url)
    redis = Redis.from_url(redis_url, socket_timeout=PROBE_TIMEOUT_S)
    clock = clock or SystemClock()
    gateway = gateway or GatewaySettings(
        auth_enabled=settings.auth_enabled, fx=load_fx_table(settings.fx_file)
    )
    if gateway.auth_enabled and verifier is None:
        verifier = CachingApiKeyVerifier(
            ApiKeyStore(engine, clock=clock),
            clock=clock,
            ttl=timedelta(seconds=settings.api_key_cache_ttl_s),
        )
    rate_limiter: RateLimiter | None = None
    if settings.rate_limit_requests > 0:
        limit = RateLimit(settings.rate_limit_requests, settings.rate_limit_window_s)
        rate_limiter = RedisRateLimiter(redis, limit, clock=clock)
    auth_failures: AuthFailureLimiter | None = None
    if settings.failed_auth_limit > 0:
        failures = RateLimit(settings.failed_auth_limit, settings.failed_auth_window_s)
        auth_failures = FailedAuthLimiter(redis, failures, clock=clock)

    async def postgresql() -> str:
        async with engine.connect() as connection:
            version = (await connection.execute(text("SHOW server_version"))).scalar_one()
        return f"PostgreSQL {version}"

    async def redis_server() -> str:
        info: Mapping[str, Any] = await redis.info("server")
        return f"Redis {info.get('redis_version', '?')}"

    async def scoring() -> str:
        versions = await scorer.ready()
        return ", ".join(f"{name}={value}" for name, value in sorted(versions.items()))

    async def close() -> None:
        await redis.aclose()
        await engine.dispose()

    return create_app(
        settings=gateway,
        scorer=scorer,
        records=Repository(engine, clock=clock),
        readiness=ProbeReadiness(
            {"postgresql": postgresql, "redis": redis_server, "scoring": scoring},
            timeout_s=PROBE_TIMEOUT_S,
        ),
        clock=clock,
        verifier=verifier,
        rate_limiter=rate_limiter,
        auth_failures=auth_failures,
        operations=operations,
        labels=LabelStore(engine, clock=clock),
        label_publisher=label_publisher,
        on_shutdown=[close],
    )
