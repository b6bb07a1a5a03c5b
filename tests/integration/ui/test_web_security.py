"""The web app in a (simulated) browser: no open redirect after sign-in, security headers on
every response, and its socket.io endpoint refuses other sites' pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from nicegui import __version__ as nicegui_version
from nicegui.testing import User

SignIn = Callable[..., Awaitable[None]]
SOCKET_IO = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
EVIL_TARGETS = [
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "//evil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "https://evil.example/",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", EVIL_TARGETS)
async def test_sign_in_never_leads_to_another_site(
    user: User, analyst: str, sign_in: SignIn, target: str
) -> None:
    """A `next` that a browser would read as another site lands on the alerts page instead."""
    await sign_in(user, analyst, then=target)
    assert user.back_history[-1] == "/alerts"


async def test_sign_in_still_returns_to_a_page_of_the_app(
    user: User, analyst: str, sign_in: SignIn
) -> None:
    """A same-origin path with a query is followed after signing in."""
    await sign_in(user, analyst, then="/daily%3Fday%3D2026-03-01")
    assert user.back_history[-1] == "/daily?day=2026-03-01"


@pytest.mark.parametrize(
    "path",
    ["/login", "/alerts", "/no-such-page", f"/_nicegui/{nicegui_version}/static/nicegui.css"],
)
async def test_every_response_carries_the_security_headers(user: User, path: str) -> None:
    """Pages, redirects, errors and static files get CSP, framing, sniffing and referrer rules."""
    response = await user.http_client.get(path)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "connect-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_the_sign_in_page_renders_behind_the_policy(user: User) -> None:
    """The page NiceGUI serves needs only what the policy allows: its own origin, inline code."""
    response = await user.http_client.get("/login")
    assert response.status_code == 200
    assert "http://" not in response.text.replace("http://test", "")
    assert "https://" not in response.text
    await user.open("/login")
    await user.should_see("Sign in")


async def test_socket_io_refuses_other_origins(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    """A socket.io handshake from another site's page is refused, without CORS credentials."""
    evil = await user.http_client.get(SOCKET_IO, headers={"origin": "https://evil.example"})
    assert evil.status_code == 400
    assert "access-control-allow-origin" not in evil.headers
    logged = [r.getMessage() for r in caplog.records if r.name == "engineio.server"]
    assert all("evil.example is not an accepted origin" in message for message in logged)
    caplog.clear()  # engineio logs its first refusal as an error: expected here
    own = await user.http_client.get(SOCKET_IO, headers={"origin": "http://test"})
    assert own.status_code == 200, own.text
    assert own.headers["access-control-allow-origin"] == "http://test"
    proxied = await user.http_client.get(
        SOCKET_IO,
        headers={"origin": "https://vigil.example", "x-forwarded-host": "vigil.example"},
    )
    assert proxied.status_code == 200, proxied.text
