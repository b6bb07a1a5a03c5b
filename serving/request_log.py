"""One ``request_completed`` log event per request, with a request id bound for everything else.

The middleware binds ``request_id`` (the client's ``X-Request-ID`` when it is a sane token, a fresh
one otherwise), the method and the path to the structlog context; handlers add
``transaction_id`` / ``account_id``; the closing event then carries them all with the status and
the duration. The context is restored afterwards, so nothing leaks into the next request. The
request id is echoed in the ``X-Request-ID`` response header and in problem details.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Final

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER: Final = "x-request-id"
_SANE_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_log = structlog.get_logger("vigil.serving")


class RequestLogMiddleware(ASGIMiddleware):
    """Bind a request id and log one event per HTTP request (probes excluded)."""

    scopes = (ScopeType.HTTP,)
    exclude_path_pattern = ("^/health$", "^/ready$")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the request inside a bound logging context and log how it ended."""
        request_id = _request_id(scope)
        before = structlog.contextvars.get_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, http_method=scope.get("method"), http_path=scope["path"]
        )
        status = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await next_app(scope, receive, send_with_request_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            log = _log.warning if status >= 500 else _log.info
            log("request_completed", status=status, duration_ms=duration_ms)
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**before)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex
