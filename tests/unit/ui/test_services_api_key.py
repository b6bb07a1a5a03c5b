"""The web app sends the key `vigil up` hands it (VIGIL_UI_GATEWAY_API_KEY) to the gateway."""

from __future__ import annotations

import httpx
import pytest

from config.settings import load_settings
from storage.database import create_engine
from ui.services import build_services


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, None), ({"VIGIL_UI_GATEWAY_API_KEY": "vgl_x"}, "Bearer vgl_x")],
)
async def test_admin_calls_carry_the_configured_key(
    environ: dict[str, str], expected: str | None
) -> None:
    """With ui_gateway_api_key set every admin call is 'Bearer <key>'; without it, no header."""
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"versions": {}})

    settings = load_settings(environ=environ, database_url="postgresql+asyncpg://u@h/db")
    assert "vgl_x" not in repr(settings)
    engine = create_engine(settings.database_url or "")
    services = build_services(settings, engine, gateway_transport=httpx.MockTransport(handle))
    await services.gateway.rule_versions()
    await services.gateway.aclose()
    await engine.dispose()
    assert seen == [expected]
