"""Everything a page needs, built once per process from the settings and injected into pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import GatewayClient
from config.settings import Settings
from core.clock import Clock, SystemClock
from storage.analytics import Analytics
from storage.model_registry import ModelRegistry
from storage.repository import Repository
from storage.shadow import ShadowReader
from storage.users import SessionPolicy, UserStore
from ui.auth import LoginThrottle
from ui.cache import SharedReads
from ui.hub import AlertHub
from ui.rules_catalog import RuleCatalog


@dataclass(frozen=True, slots=True)
class UiConfig:
    """The app's own limits and intervals."""

    max_rows: int = 200
    """Most alerts one live table holds in the browser; older ones are paged from history."""
    page_size: int = 50
    """Alerts per history page."""
    dashboard_refresh_s: float = 10.0
    """How often open dashboards refresh (one shared query per view per interval)."""
    gateway_poll_s: float = 5.0
    """How often the Scaling page asks the gateway for deployments."""
    publish_wait_s: float = 90.0
    """How long the Rules page waits for every replica to report a published version."""
    session: SessionPolicy = field(default_factory=SessionPolicy)


@dataclass(frozen=True, slots=True)
class UiServices:
    """Stores, clients and shared state of one UI process."""

    repository: Repository
    users: UserStore
    analytics: Analytics
    hub: AlertHub
    gateway: GatewayClient
    rules: RuleCatalog
    model_dir: Path
    registry: ModelRegistry
    shadow: ShadowReader
    clock: Clock
    config: UiConfig
    reads: SharedReads
    throttle: LoginThrottle


def build_services(
    settings: Settings,
    engine: AsyncEngine,
    *,
    config: UiConfig | None = None,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> UiServices:
    """The services of one UI process on ``engine``; nothing is contacted yet."""
    config = config or UiConfig()
    clock = clock or SystemClock()
    secret = settings.ui_gateway_api_key  # issued by `vigil up` (docs/security.md)
    return UiServices(
        repository=Repository(engine, clock=clock),
        users=UserStore(engine, clock=clock, hasher=hasher, policy=config.session),
        analytics=Analytics(engine),
        hub=AlertHub(),
        gateway=GatewayClient(
            settings.gateway_url,
            api_key=secret.get_secret_value() if secret is not None else None,
            timeout_s=3.0,
            transport=gateway_transport,
        ),
        rules=RuleCatalog(settings.rules_dir, settings.features_file),
        model_dir=settings.model_dir,
        registry=ModelRegistry(engine, clock=clock),
        shadow=ShadowReader(engine),
        clock=clock,
        config=config,
        reads=SharedReads(config.dashboard_refresh_s),
        throttle=LoginThrottle(),
    )
