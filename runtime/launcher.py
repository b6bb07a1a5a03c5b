"""``vigil up``: everything Vigil needs on one machine, started in order and stopped cleanly.

1. PostgreSQL and Redis: the configured URLs, or embedded servers under ``data_dir`` when a URL
   is unset (and those are stopped again on exit);
2. database migrations;
3. a local Ray and the Serve application from ``config/serve.yaml``;
4. in this process: the stream writer (decision stream → PostgreSQL) as an asyncio task, the
   flusher of this process's log events into the ``logs`` table, and, for ``vigil demo``, a feed
   of generated transactions to the gateway;
5. the web UI as its own process, when the ``ui`` package has an entry point (``ui/__main__.py``).
   With authentication on, the UI gets an API key with the ``admin`` scope for the gateway's admin
   API: ``ui_gateway_api_key`` when set, else a key issued now (named :data:`UI_KEY_NAME`, earlier
   ones revoked) and revoked again on exit. It travels only in the UI process's environment
   (``VIGIL_UI_GATEWAY_API_KEY``): never logged, never written to a file.

Ctrl-C (or SIGTERM) stops the feed, the writer (after its current batch), the UI, Serve, Ray and
the embedded servers, in that order. The writer runs here rather than as a deployment because it
needs no scaling and must be the last thing to let go of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from client.gateway import Failure, GatewayClient
from client.load import send_at_rate
from config.settings import REPO_DIR, Settings
from core.admin import ModelSelection
from core.errors import DependencyUnavailableError
from runtime.metrics import METRICS_PATH
from storage.urls import require_url

if TYPE_CHECKING:
    from runtime.ray_cluster import AppState
    from storage.api_keys import ApiKeyStore

Echo = Callable[[str], None]
_log = structlog.get_logger("vigil.engine")
_UI_ENTRY = REPO_DIR / "ui" / "__main__.py"
_STOP_TIMEOUT_S = 15.0
_GATEWAY_TIMEOUT_S = 60.0
START_BACKOFF_S = (2.0, 4.0)
"""Pauses between attempts to start Ray and Serve (three attempts in all)."""
UI_KEY_NAME = "web-app:vigil-up"
"""The name of the API keys ``vigil up`` issues to the web app."""
UI_KEY_ENV = "VIGIL_UI_GATEWAY_API_KEY"


@dataclass(frozen=True, slots=True)
class DemoFeed:
    """Transactions to send to the gateway at ``rate`` per second (``vigil demo``)."""

    payloads: Iterable[Mapping[str, Any]]
    rate: float


@dataclass(frozen=True, slots=True)
class UpOptions:
    """What ``vigil up`` starts besides the engine itself."""

    config_file: Path | None = None
    with_ui: bool = True
    demo: DemoFeed | None = None
    api_key: str | None = None
    deploy_timeout_s: float = 300.0
    extra_env: Mapping[str, str] = field(default_factory=dict)


def run_up(settings: Settings, options: UpOptions, echo: Echo) -> None:
    """Start everything, block until Ctrl-C / SIGTERM, then stop everything."""
    from runtime import ray_cluster, shutdown  # noqa: PLC0415

    # before anything imports Ray
    ray_cluster.apply_ray_environment(loopback=ray_cluster.is_loopback(settings.http_host))
    from runtime.serve_config import load_serve_config  # noqa: PLC0415
    from storage.embedded import start_embedded, stop_embedded  # noqa: PLC0415 - heavy imports
    from storage.migrations import upgrade  # noqa: PLC0415

    serve_config = load_serve_config(settings.serve_config_file)  # fail fast on a bad file
    embedded = not (settings.database_url and settings.redis_url)
    ui: subprocess.Popen[bytes] | None = None
    ui_key: str | None = None
    shutdown.prepare_start(settings, with_ui=options.with_ui, echo=echo)
    try:
        if embedded:
            echo(f"starting embedded PostgreSQL and Redis under {settings.data_dir}/ ...")
            urls = start_embedded(settings.data_dir)
            settings = settings.model_copy(
                update={
                    "database_url": settings.database_url or urls.database_url,
                    "redis_url": settings.redis_url or urls.redis_url,
                }
            )
        database_url = require_url(settings, "database_url")
        echo("applying database migrations ...")
        asyncio.run(upgrade(database_url))
        if not settings.auth_enabled:
            _log.warning("auth_disabled", detail="the gateway accepts requests without API keys")
            echo("WARNING: authentication is off: every gateway request acts with every scope")
        elif options.with_ui and settings.ui_gateway_api_key is None:
            ui_key = asyncio.run(issue_ui_key(database_url))
        models = asyncio.run(registry_selection(database_url))
        address, state = start_engine(settings, serve_config, options, echo, models)
        gateway_url = settings.gateway_url
        ray_cluster.RuntimeInfo(
            ray_address=address, gateway_url=gateway_url, pid=os.getpid()
        ).write(settings.data_dir)
        for deployment in state.deployments:
            echo(f"  {deployment.name}: {deployment.status} {deployment.replicas}")
        if options.with_ui:
            ui = start_ui(settings, options, api_key=ui_key)
        echo(f"gateway:  {gateway_url}  (API docs at {gateway_url}/schema)")
        if ui is not None:
            echo(f"web UI:   http://{settings.ui_host}:{settings.ui_port}")
        echo(f"metrics:  http://{settings.http_host}:{settings.metrics_port}{METRICS_PATH}")
        echo("press Ctrl-C to stop")
        asyncio.run(_run_until_stopped(settings, gateway_url, options, echo))
    finally:
        echo("stopping ...")
        if ui is not None:
            stop_process(ui)
        if ui_key is not None:
            asyncio.run(revoke_ui_keys(require_url(settings, "database_url")))
        ray_cluster.RuntimeInfo.remove(settings.data_dir)
        ray_cluster.stop_ray()
        if embedded:
            stop_embedded(settings.data_dir)
        shutdown.forget_processes(settings.data_dir)
        echo("stopped")


async def registry_selection(database_url: str) -> ModelSelection:
    """The models the registry says live traffic is scored with (read once at start)."""
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from storage.database import create_engine  # noqa: PLC0415
    from storage.model_registry import ModelRegistry  # noqa: PLC0415

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        return await ModelRegistry(engine).selection()
    finally:
        await engine.dispose()


def start_engine(
    settings: Settings,
    serve_config: dict[str, Any],
    options: UpOptions,
    echo: Echo,
    models: ModelSelection | None = None,
) -> tuple[str, AppState]:
    """Start Ray, deploy the application and wait until the gateway answers, with retries.

    A failed attempt prints one line, stops what it started (and anything of the data dir it
    left), and is retried after :data:`START_BACKOFF_S` (2 s, then 4 s). A deploy the
    application itself failed (a bad model, say) is not retried: it would fail again.
    """
    from runtime import ray_cluster, shutdown  # noqa: PLC0415
    from runtime.serve_config import deploy_config  # noqa: PLC0415

    models = models or ModelSelection()
    if models.champion is not None:
        echo(f"model registry: champion {models.champion.version}")
    if models.challenger is not None:
        echo(f"model registry: challenger {models.challenger.version} (scored in shadow)")
    attempts = len(START_BACKOFF_S) + 1
    for attempt in range(1, attempts + 1):
        try:
            echo("starting Ray ..." if attempt == 1 else f"starting Ray (attempt {attempt}) ...")
            address = ray_cluster.start_local_ray(
                settings.data_dir, metrics_port=settings.metrics_port, host=settings.http_host
            )
            echo(
                f"Ray is up at {address}; deploying the Serve application (this takes a while) ..."
            )
            state = ray_cluster.deploy(
                deploy_config(serve_config, settings, models), timeout_s=options.deploy_timeout_s
            )
            wait_for_gateway(settings.gateway_url, timeout_s=_GATEWAY_TIMEOUT_S)
        except (DependencyUnavailableError, ConnectionError, OSError, RuntimeError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if _application_failed():
                raise
            if attempt == attempts:
                raise DependencyUnavailableError(
                    f"Ray/Serve did not start after {attempts} attempts: {reason}"
                ) from exc
            delay = START_BACKOFF_S[attempt - 1]
            echo(
                f"Ray/Serve start failed (attempt {attempt} of {attempts}): {reason}; "
                f"retrying in {delay:g} s"
            )
            ray_cluster.stop_ray(graceful=False)
            shutdown.clean_up_leftovers(settings.data_dir, echo, grace_s=5.0)
            time.sleep(delay)
        else:
            return address, state
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _application_failed() -> bool:
    """Whether Serve says the application itself failed (its replicas cannot start)."""
    from runtime import ray_cluster  # noqa: PLC0415

    try:
        return ray_cluster.app_state().status == "DEPLOY_FAILED"
    except (RuntimeError, ConnectionError):  # Ray is not up: a start failure, retry it
        return False


def wait_for_gateway(gateway_url: str, *, timeout_s: float) -> None:
    """Wait until HAProxy answers ``/-/healthz`` with 200 (a gateway replica is routable)."""
    import httpx  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(f"{gateway_url}/-/healthz", timeout=2.0)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if reply.status_code == httpx.codes.OK:
                return
            last = f"HTTP {reply.status_code}"
        time.sleep(0.5)
    raise DependencyUnavailableError(
        f"the gateway at {gateway_url} did not become healthy within {timeout_s:g} s ({last})"
    )


def start_ui(
    settings: Settings, options: UpOptions, *, api_key: str | None = None
) -> subprocess.Popen[bytes] | None:
    """Start ``python -m ui`` with this run's settings, or ``None`` if there is no UI entry yet.

    ``api_key`` is the key the UI sends to the gateway (in its environment only).
    """
    if not _UI_ENTRY.is_file():
        return None
    env = {
        **os.environ,
        **options.extra_env,
        "VIGIL_DATABASE_URL": require_url(settings, "database_url"),
        "VIGIL_REDIS_URL": require_url(settings, "redis_url"),
    }
    if options.config_file is not None:
        env["VIGIL_CONFIG_FILE"] = str(options.config_file)
    if api_key is not None:
        env[UI_KEY_ENV] = api_key
    from runtime import processes, shutdown  # noqa: PLC0415

    # Its own process group (recorded in run/ui.pid with it): a terminal's Ctrl-C reaches it only
    # through vigil up's orderly stop, after the feed and before Ray.
    ui = subprocess.Popen([sys.executable, "-m", "ui"], env=env, start_new_session=True)
    processes.record(settings.data_dir, shutdown.UI, ui.pid)  # `vigil down` finds it there
    return ui


async def issue_ui_key(database_url: str) -> str:
    """A new admin key for the web app; earlier ones (left by a crashed run) are revoked."""
    from core.access import Scope  # noqa: PLC0415

    async with _key_store(database_url) as store:
        await store.revoke_named(UI_KEY_NAME)
        issued = await store.create(UI_KEY_NAME, {Scope.ADMIN}, created_by="vigil up")
    _log.info("ui_api_key_issued", api_key_id=issued.key.id, prefix=issued.key.prefix)
    return issued.secret


async def revoke_ui_keys(database_url: str) -> None:
    """Revoke the web app's keys (on exit); a database that is gone already is only logged."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    try:
        async with _key_store(database_url) as store:
            await store.revoke_named(UI_KEY_NAME)
    except (SQLAlchemyError, OSError) as exc:
        _log.warning("ui_api_key_not_revoked", error=str(exc))


@contextlib.asynccontextmanager
async def _key_store(database_url: str) -> AsyncIterator[ApiKeyStore]:
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from storage.api_keys import ApiKeyStore  # noqa: PLC0415
    from storage.database import create_engine  # noqa: PLC0415

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        yield ApiKeyStore(engine)
    finally:
        await engine.dispose()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, killing it if it has not exited within the stop timeout."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _run_until_stopped(
    settings: Settings, gateway_url: str, options: UpOptions, echo: Echo
) -> None:
    from config.logging import configure_logging  # noqa: PLC0415
    from runtime.metrics import WriterMetrics, ray_meters  # noqa: PLC0415 - imports Ray
    from storage.database import create_engine  # noqa: PLC0415
    from storage.log_shipping import LogShipping  # noqa: PLC0415
    from storage.stream import stream_client  # noqa: PLC0415
    from storage.writer import StreamWriter  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    shipping = LogShipping(require_url(settings, "database_url"))
    configure_logging(settings, extra_processors=[shipping.buffer])
    shipping.start()
    redis = stream_client(require_url(settings, "redis_url"))
    database = create_engine(require_url(settings, "database_url"))
    # This process is a Ray driver: its metrics are exported with the replicas' (runtime.metrics).
    writer = StreamWriter(redis, database, observer=WriterMetrics(ray_meters()))
    writer_task = asyncio.create_task(writer.run(), name="stream-writer")
    feed_task = (
        asyncio.create_task(_feed(gateway_url, options, echo), name="demo-feed")
        if options.demo is not None
        else None
    )
    try:
        await stop.wait()
    finally:
        if feed_task is not None:
            feed_task.cancel()
            await asyncio.gather(feed_task, return_exceptions=True)
        writer.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_TIMEOUT_S):
                await asyncio.gather(writer_task, return_exceptions=True)
        writer_task.cancel()
        await shipping.aclose()
        await database.dispose()
        await redis.aclose()


async def _feed(gateway_url: str, options: UpOptions, echo: Echo) -> None:
    demo = options.demo
    if demo is None:
        return
    counts: dict[str, int] = {}
    async with GatewayClient(gateway_url, api_key=options.api_key) as client:
        async for payload, reply in send_at_rate(client.score, demo.payloads, rate=demo.rate):
            if isinstance(reply, Failure):
                key = "failed"
                _log.warning("demo_request_failed", error=reply.error)
            elif not reply.ok:
                key = f"http_{reply.status}"
                _log.warning("demo_request_rejected", status=reply.status, body=reply.body)
            else:
                key = str(reply.body.get("outcome", "unknown"))
                if key != "allow":
                    echo(
                        f"{key.upper():6} {payload.get('transaction_id')} "
                        f"risk {reply.body.get('risk_score', 0):.2f} "
                        f"{_first_reason(reply.body)}"
                    )
            counts[key] = counts.get(key, 0) + 1
            total = sum(counts.values())
            if total % 500 == 0:
                echo(f"sent {total}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    echo("demo feed finished: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def _first_reason(body: Mapping[str, Any]) -> str:
    reasons = body.get("reasons") or []
    return str(reasons[0].get("message", "")) if reasons else ""
