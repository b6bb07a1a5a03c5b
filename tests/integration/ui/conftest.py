"""Fixtures for the web app's page tests: NiceGUI's simulated ``User`` on real services.

The ``user`` fixture is NiceGUI's user simulation (``nicegui.testing``: no browser, the pages run
in this event loop) with Vigil's pages registered on services backed by the session's PostgreSQL
(``db_engine``, tables emptied per test). The gateway's admin API is a :class:`FakeGateway`
behind ``httpx.MockTransport``. Rule files are a per-test copy of ``config/rules``. It is enabled
here rather than through NiceGUI's pytest plugin so no other test folder loads NiceGUI.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from nicegui import app, core, ui
from nicegui.storage import Storage
from nicegui.testing import User
from nicegui.testing.general import nicegui_reset_globals, prepare_simulation
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import CONFIG_DIR, REPO_DIR, Settings
from storage.users import Role
from ui.services import UiConfig, UiServices, build_services

PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test account's password
"""Password of every account the fixtures create."""


@dataclass
class FakeGateway:
    """The gateway's admin API as a MockTransport: deployments, scale calls, rule versions."""

    reachable: bool = True
    deployments: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "name": "gateway",
                "status": "HEALTHY",
                "replicas": {"target": 1, "running": 1},
                "message": "",
            },
            {
                "name": "rules",
                "status": "UPSCALING",
                "replicas": {"target": 2, "running": 2},
                "message": "Upscaling from 1 to 2 replicas.",
            },
        ]
    )
    versions: dict[str, str] = field(default_factory=dict)
    scaled: list[tuple[str, int]] = field(default_factory=list)
    follow_publishes: Callable[[], str] | None = None
    """When set, every replica reports this function's result (the version on disk)."""
    labels: list[dict[str, Any]] = field(default_factory=list)
    """Every label item posted to ``/v1/labels``."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one admin API request."""
        if not self.reachable:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if request.method == "GET" and path == "/v1/admin/deployments":
            return httpx.Response(200, json=self.deployments)
        if request.method == "POST" and path.startswith("/v1/admin/deployments/"):
            name = path.split("/")[4]
            replicas = int(httpx.Response(200, content=request.content).json()["replicas"])
            self.scaled.append((name, replicas))
            for deployment in self.deployments:
                if deployment["name"] == name:
                    deployment["replicas"]["target"] = replicas
            return httpx.Response(202, json={"name": name, "replicas": replicas})
        if request.method == "GET" and path == "/v1/admin/rules":
            if self.follow_publishes is not None:
                version = self.follow_publishes()
                return httpx.Response(200, json={"versions": dict.fromkeys(self.versions, version)})
            return httpx.Response(200, json={"versions": self.versions})
        if request.method == "POST" and path == "/v1/labels":
            items = httpx.Response(200, content=request.content).json()["items"]
            self.labels.extend(items)
            answers = [{**item, "status": "unchanged", "current": item["label"]} for item in items]
            return httpx.Response(
                200,
                json={
                    "items": answers,
                    "recorded": 0,
                    "unchanged": len(items),
                    "unknown_transaction": 0,
                    "known_before_transaction": 0,
                    "online": True,
                },
            )
        return httpx.Response(404, json={"title": "not found"})

    @property
    def transport(self) -> httpx.MockTransport:
        """The transport to give the app's gateway client."""
        return httpx.MockTransport(self.handle)


@pytest.fixture
def gateway() -> FakeGateway:
    """A reachable fake gateway with two deployments."""
    return FakeGateway()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped rule files (pages may publish into it)."""
    target = tmp_path / "rules"
    shutil.copytree(CONFIG_DIR / "rules", target)
    return target


@pytest.fixture
def ui_settings(database_url: str, redis_url: str, rules_dir: Path, tmp_path: Path) -> Settings:
    """Settings pointing at the test services, the rule copy and the shipped model."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "var",
        rules_dir=rules_dir,
        model_dir=REPO_DIR / "artifacts" / "default",
    )


@pytest.fixture
def ui_config() -> UiConfig:
    """The app's limits for the test (modules override this fixture to change them)."""
    return UiConfig(dashboard_refresh_s=0.2, publish_wait_s=2.0)


@pytest.fixture
def services(
    db_engine: AsyncEngine, ui_settings: Settings, gateway: FakeGateway, ui_config: UiConfig
) -> UiServices:
    """The app's services on the emptied test database, with a cheap password hasher."""
    return build_services(
        ui_settings,
        db_engine,
        config=ui_config,
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
        gateway_transport=gateway.transport,
    )


@asynccontextmanager
async def simulated_user(services: UiServices) -> AsyncIterator[User]:
    """NiceGUI's user simulation with Vigil's pages registered (cf. nicegui.testing)."""
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            prepare_simulation()
            # NiceGUI forgets page modules after each simulation; import them afresh every time
            from ui.pages import register_pages  # noqa: PLC0415
            from ui.security import protect  # noqa: PLC0415

            register_pages(services)
            protect()  # as ui.app.install does: the pages run behind the security headers
            ui.run(storage_secret="simulated secret")  # noqa: S106 - test-only cookie key
            async with core.app.router.lifespan_context(core.app):
                transport = httpx.ASGITransport(core.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    yield User(client)
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)


@pytest.fixture(scope="session")
def _nicegui_storage() -> None:
    """Keep NiceGUI's user storage in a temporary directory, never in the repository."""
    Storage.path = Path(tempfile.mkdtemp(prefix="vigil-ui-test-storage-")).resolve()
    app.storage = Storage()


@pytest.fixture
async def user(
    services: UiServices, _nicegui_storage: None, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[User]:
    """A simulated browser on the app; the test fails if the app logged an error."""
    async with simulated_user(services) as simulated:
        yield simulated
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    assert not errors, f"the app logged errors: {[r.getMessage() for r in errors]}"


@pytest.fixture
async def analyst(services: UiServices) -> str:
    """An analyst account (username ``alice``)."""
    await services.users.add_user("alice", PASSWORD, role=Role.ANALYST, display_name="Alice")
    return "alice"


@pytest.fixture
async def admin(services: UiServices) -> str:
    """An admin account (username ``root-admin``)."""
    await services.users.add_user("root-admin", PASSWORD, role=Role.ADMIN, display_name="Ada")
    return "root-admin"


SignIn = Callable[..., Awaitable[None]]


async def _sign_in(user: User, username: str, *, then: str = "/alerts") -> None:
    await user.open(f"/login?next={then}")
    user.find(marker="username").type(username)
    user.find(marker="password").type(PASSWORD)
    user.find(marker="sign-in").click()
    for _ in range(100):
        if user.back_history and not user.back_history[-1].startswith("/login"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{username} was not signed in")


@pytest.fixture
def sign_in() -> SignIn:
    """``await sign_in(user, username, then="/path")``: sign in through the login page."""
    return _sign_in


def _table_rows(user: User, marker: str) -> list[dict[str, Any]]:
    tables = list(user.find(marker=marker).elements)
    assert len(tables) == 1, f"expected one table marked {marker!r}, found {len(tables)}"
    rows: list[dict[str, Any]] = tables[0].rows  # type: ignore[attr-defined]
    return rows


@pytest.fixture
def table_rows() -> Callable[[User, str], list[dict[str, Any]]]:
    """``table_rows(user, marker)``: the rows of the one table marked ``marker``."""
    return _table_rows
