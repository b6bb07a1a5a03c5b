"""The web app's browser-side protections: security headers on every response, same-origin sockets.

:func:`protect` adds, to every HTTP response of the app (pages, redirects, NiceGUI's scripts and
styles, errors):

* ``Content-Security-Policy``: everything from this origin only; no plugins, no framing, forms
  and ``<base>`` only to this origin. NiceGUI needs ``'unsafe-inline'`` and ``'unsafe-eval'``
  for scripts (its page bootstrap is an inline script; Vue compiles templates in the browser and
  NiceGUI evaluates JavaScript props and handlers with ``eval``), inline styles (Quasar, Tailwind
  and the theme inject ``<style>``), ``data:`` images and fonts (icons, the favicon) and its
  socket.io connection (``connect-src 'self'``, which covers ``ws:``/``wss:`` to the same host).
  So the policy does not stop injected inline script; it stops loading or sending anything
  anywhere else, and framing (clickjacking).
* ``X-Frame-Options: DENY`` (for browsers without ``frame-ancestors``),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (page URLs carry account
  and transaction ids; other sites get no referrer), ``Cross-Origin-Opener-Policy: same-origin``.

NiceGUI's socket.io server accepts every ``Origin`` and answers with credentials allowed, so any
web page could drive a signed-in browser's session over it. :func:`protect` makes it accept only
connections whose ``Origin`` names the host the request was sent to (``Host``, or
``X-Forwarded-Host`` behind a proxy), whatever the scheme (TLS may end at a proxy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware setting :data:`SECURITY_HEADERS` on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers when the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def same_origin(origin: str | None, environ: Mapping[str, Any]) -> bool:
    """Whether ``origin`` names the host a socket.io request was sent to (any scheme)."""
    if not origin:
        return False
    host = urlsplit(origin).netloc.lower()
    sent_to = {
        value.split(",")[0].strip().lower()
        for value in (environ.get("HTTP_HOST"), environ.get("HTTP_X_FORWARDED_HOST"))
        if isinstance(value, str) and value
    }
    return bool(host) and host in sent_to


def protect() -> None:
    """Add the security headers to NiceGUI's app and restrict its socket.io to same-origin.

    Call before ``ui.run`` (middleware cannot be added to a running app).
    """
    from nicegui import app, core  # noqa: PLC0415 - keep importing this module light

    app.add_middleware(SecurityHeaders)
    core.sio.eio.cors_allowed_origins = same_origin
