"""Run the real web app and a real browser: shared by the e2e tests, the screenshot script and the
push-latency benchmark.

* :class:`UiServer` starts ``python -m ui`` (the command ``vigil up`` runs) on a free port with
  the given PostgreSQL / Redis URLs and waits until it answers.
* :class:`FakeAdminGateway` serves the gateway's three admin endpoints (deployments, scale, rule
  versions) from a thread, for pages that need a gateway when the Ray one is not running; its
  rules replicas report the content hash of a rule directory, as hot reload would.
* :func:`launch_chromium` starts Debian's ``/usr/bin/chromium`` through Playwright (never a
  downloaded browser).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx

REPO: Final = Path(__file__).resolve().parents[2]
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM: Final = f"{CHROMIUM} is not installed (apt-get install -y chromium)"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class UiServer:
    """``python -m ui`` as its own process, on ``127.0.0.1:<port>``."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        data_dir: Path,
        gateway_port: int | None = None,
        rules_dir: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "ui.log"
        # a clean environment: no other VIGIL_* settings, and not "inside pytest" (NiceGUI
        # then expects its own screen-test port)
        env = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith(("VIGIL_", "PYTEST_")) and not k.startswith("VIGIL_TEST_"))
        }
        env.update(
            {
                "VIGIL_DATABASE_URL": database_url,
                "VIGIL_REDIS_URL": redis_url,
                "VIGIL_DATA_DIR": str(data_dir),
                "VIGIL_UI_HOST": "127.0.0.1",
                "VIGIL_UI_PORT": str(self.port),
                "VIGIL_HTTP_PORT": str(gateway_port or free_port()),
                "VIGIL_LOG_LEVEL": "warning",
            }
        )
        if rules_dir is not None:
            env["VIGIL_RULES_DIR"] = str(rules_dir)
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the process and wait until the sign-in page answers."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ui"],
            cwd=REPO,
            env=self._env,
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the UI exited early:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/login", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the UI did not answer within {timeout_s} s:\n{self.log()}")

    def stop(self) -> None:
        """Terminate the process (kill it if it does not exit in time)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> UiServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class FakeAdminGateway:
    """The gateway's admin API on a free port, served by uvicorn from a thread."""

    def __init__(self, rules_dir: Path | None = None, *, replicas: int = 2) -> None:
        self.port = free_port()
        self.rules_dir = rules_dir
        self.scaled: list[tuple[str, int]] = []
        self.deployments: list[dict[str, Any]] = [
            {
                "name": "gateway",
                "status": "HEALTHY",
                "replicas": {"target": 1, "running": 1},
                "message": "",
            },
            {
                "name": "features",
                "status": "HEALTHY",
                "replicas": {"target": 1, "running": 1},
                "message": "",
            },
            {
                "name": "rules",
                "status": "HEALTHY",
                "replicas": {"target": replicas, "running": replicas},
                "message": "",
            },
            {
                "name": "ensemble",
                "status": "UPSCALING",
                "replicas": {"target": 2, "running": 1},
                "message": "Upscaling from 1 to 2 replicas.",
            },
        ]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _versions(self) -> dict[str, str]:
        from rules.loader import read_rule_sources  # noqa: PLC0415

        version = read_rule_sources(self.rules_dir).version if self.rules_dir else "unknown"
        rules = next(d for d in self.deployments if d["name"] == "rules")
        return {f"rules#{i + 1}": version for i in range(rules["replicas"]["running"])}

    def app(self) -> Any:
        """The Starlette app answering the three admin endpoints."""
        from starlette.applications import Starlette  # noqa: PLC0415
        from starlette.requests import Request  # noqa: PLC0415
        from starlette.responses import JSONResponse  # noqa: PLC0415
        from starlette.routing import Route  # noqa: PLC0415

        async def deployments(_request: Request) -> JSONResponse:
            return JSONResponse(self.deployments)

        async def scale(request: Request) -> JSONResponse:
            name = request.path_params["name"]
            replicas = int((await request.json())["replicas"])
            self.scaled.append((name, replicas))
            for deployment in self.deployments:
                if deployment["name"] == name:
                    deployment["replicas"] = {"target": replicas, "running": replicas}
            return JSONResponse({"name": name, "replicas": replicas}, status_code=202)

        async def rules(_request: Request) -> JSONResponse:
            return JSONResponse({"versions": self._versions()})

        return Starlette(
            routes=[
                Route("/v1/admin/deployments", deployments),
                Route("/v1/admin/deployments/{name}/scale", scale, methods=["POST"]),
                Route("/v1/admin/rules", rules),
            ]
        )

    def __enter__(self) -> FakeAdminGateway:
        import uvicorn  # noqa: PLC0415

        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextlib.asynccontextmanager
async def scratch_services(
    scratch: Path, *, database_server_url: str | None = None, redis_url: str | None = None
) -> AsyncIterator[tuple[str, str]]:
    """A fresh, migrated database and a Redis URL for a script; the database is dropped after.

    ``database_server_url`` (a user that may create databases) defaults to
    ``VIGIL_TEST_DATABASE_URL``; ``redis_url`` to ``VIGIL_TEST_REDIS_URL`` with DB 14. Without
    them embedded servers are started under ``scratch`` (and stopped again).
    """
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from storage.database import create_engine, database_url  # noqa: PLC0415
    from storage.migrations import upgrade  # noqa: PLC0415

    stack = contextlib.ExitStack()
    server_url = database_server_url or os.environ.get("VIGIL_TEST_DATABASE_URL")
    test_redis = os.environ.get("VIGIL_TEST_REDIS_URL")
    redis_url = redis_url or (test_redis.rsplit("/", 1)[0] + "/14" if test_redis else None)
    if server_url is None or redis_url is None:
        from storage.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: PLC0415

        if server_url is None:
            postgres = EmbeddedPostgres(scratch / "pg")
            server_url = postgres.start()
            stack.callback(postgres.stop)
        if redis_url is None:
            redis = EmbeddedRedis(scratch / "redis")
            redis_url = redis.start()
            stack.callback(redis.stop)
    name = f"vigil_scratch_{secrets.token_hex(4)}"
    admin = create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = database_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        yield url, redis_url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
        stack.close()


@contextlib.asynccontextmanager
async def chromium_browser() -> AsyncIterator[Any]:
    """A headless Debian Chromium driven by Playwright's async API."""
    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(
    page: Any, base_url: str, username: str, password: str, then: str = "/alerts"
) -> None:
    """Sign in through the form (Playwright page) and wait for ``then``."""
    await page.goto(f"{base_url}/login?next={then}")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base_url}{then}*")


async def label_in_browser(page: Any, base_url: str, transaction_id: str, note: str) -> None:
    """From an alert row on the Live page: open the alert, label it fraud with ``note``."""
    row = page.locator("tr", has=page.locator(f'td[data-transaction-id="{transaction_id}"]'))
    await row.click()
    await page.wait_for_url(f"{base_url}/alerts/{transaction_id}")
    await page.get_by_text("Investigation").wait_for(timeout=20_000)
    await page.get_by_role("button", name="Fraud").click()
    await page.get_by_label("Note").fill(note)
    await page.get_by_role("button", name="Save label").click()
    await page.get_by_text("Labelled fraud.").wait_for()
