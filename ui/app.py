"""The web app's process: build the services, register the pages, follow the stream, serve.

``run_ui(settings)`` blocks serving on ``ui_host:ui_port`` (127.0.0.1 by default) until
interrupted; ``vigil ui``, ``python -m ui`` and ``vigil up`` start it. The process holds one
PostgreSQL pool, one Redis connection for the blocking stream reads (``socket_timeout=None``)
and one HTTP pool to the gateway, all opened at startup and closed at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

import structlog
from redis.asyncio import Redis

from config.settings import Settings
from core.errors import ConfigError, Problem
from storage.database import create_engine, redacted
from storage.stream import stream_client
from ui.feed import DecisionFeed
from ui.pages import register_pages
from ui.security import protect
from ui.services import UiServices, build_services

_log = structlog.get_logger("ui.app")
SECRET_FILE: Final = "storage_secret"  # noqa: S105 - a file name, not a secret
TITLE: Final = "Vigil"


def ui_data_dir(settings: Settings) -> Path:
    """Where the web app keeps its state (``<data_dir>/ui``)."""
    return settings.data_dir / "ui"


def storage_secret(directory: Path) -> str:
    """The key signing session cookies: made once, kept private (0600) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SECRET_FILE
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def install(services: UiServices, *, redis: Redis | None) -> None:
    """Register the pages, add the security headers (:mod:`ui.security`) and, with ``redis``,
    follow the decision stream while the app runs."""
    from nicegui import app, background_tasks  # noqa: PLC0415 - keep imports of `ui.app` light

    register_pages(services)
    protect()
    if redis is None:
        return
    feed = DecisionFeed(redis, services.hub.publish, on_state=services.hub.set_state)
    task: list[asyncio.Task[None]] = []

    def start() -> None:
        task.append(background_tasks.create(feed.run(), name="vigil-decision-feed"))

    async def stop() -> None:
        for running in task:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    app.on_startup(start)
    app.on_shutdown(stop)


def run_ui(settings: Settings) -> None:
    """Serve the web app until interrupted (blocking); needs database and Redis URLs."""
    problems = [
        Problem(name, "must be set (the UI reads PostgreSQL and the decision stream)")
        for name in ("database_url", "redis_url")
        if not getattr(settings, name)
    ]
    if problems:
        raise ConfigError("the web app needs PostgreSQL and Redis", problems)
    assert settings.database_url is not None  # noqa: S101 - narrowed by the check above
    assert settings.redis_url is not None  # noqa: S101

    from nicegui import app, ui  # noqa: PLC0415 - heavy import, only when serving
    from nicegui.storage import Storage  # noqa: PLC0415

    directory = ui_data_dir(settings)
    secret = storage_secret(directory)
    Storage.path = (directory / "storage").resolve()
    app.storage = Storage()  # pick up the path: sessions live under data_dir, not the cwd

    engine = create_engine(settings.database_url, pool_size=5, max_overflow=5)
    redis = stream_client(settings.redis_url)
    services = build_services(settings, engine)
    install(services, redis=redis)

    async def close() -> None:
        await services.gateway.aclose()
        await redis.aclose()
        await engine.dispose()

    app.on_shutdown(close)
    _log.info(
        "ui_starting",
        host=settings.ui_host,
        port=settings.ui_port,
        database=redacted(settings.database_url),
    )
    ui.run(
        host=settings.ui_host,
        port=settings.ui_port,
        title=TITLE,
        favicon="🛡️",
        dark=None,
        storage_secret=secret,
        reload=False,
        show=False,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
        reconnect_timeout=10.0,
    )
