"""One request_completed event per request, with a request id echoed to the client."""

from __future__ import annotations

from typing import cast

import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import Message, Receive, ReceiveMessage, Scope, Send
from structlog.testing import LogCapture

from serving.request_log import RequestLogMiddleware
from tests.unit.serving.gateway_fakes import READ_KEY, auth

Client = AsyncTestClient[Litestar]


async def test_each_request_logs_one_completed_event(client: Client, logs: LogCapture) -> None:
    """The event carries the method, path, status, duration, key id and request id."""
    response = await client.get("/v1/transactions/t-9", headers=auth(READ_KEY))
    [event] = [e for e in logs.entries if e["event"] == "request_completed"]
    assert event["http_method"] == "GET"
    assert event["http_path"] == "/v1/transactions/t-9"
    assert event["status"] == 404
    assert event["api_key_id"] == "k-read"
    assert event["duration_ms"] >= 0
    assert event["request_id"] == response.headers["x-request-id"]


async def test_clients_request_id_is_kept(client: Client, logs: LogCapture) -> None:
    """A sane X-Request-ID from the client is used; a hostile one is replaced."""
    kept = await client.get("/v1/alerts", headers={**auth(READ_KEY), "X-Request-ID": "abc-123"})
    replaced = await client.get(
        "/v1/alerts", headers={**auth(READ_KEY), "X-Request-ID": "a b\tc" + "x" * 200}
    )
    assert kept.headers["x-request-id"] == "abc-123"
    assert replaced.headers["x-request-id"] != "a b\tc" + "x" * 200
    assert len(replaced.headers["x-request-id"]) == 32


async def test_context_does_not_leak_past_the_request(logs: LogCapture) -> None:
    """Ids bound during a request are logged, then gone; what was bound before stays."""
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        structlog.contextvars.bind_contextvars(transaction_id="t-1")
        await send({"type": "http.response.start", "status": 201, "headers": []})

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> ReceiveMessage:
        return {"type": "http.disconnect"}

    scope = cast("Scope", {"type": "http", "method": "POST", "path": "/v1/x", "headers": []})
    structlog.contextvars.bind_contextvars(replica="r-1")
    try:
        await RequestLogMiddleware().handle(scope, receive, send, app)
        assert structlog.contextvars.get_contextvars() == {"replica": "r-1"}
    finally:
        structlog.contextvars.clear_contextvars()
    [event] = logs.entries
    assert (event["transaction_id"], event["status"], event["replica"]) == ("t-1", 201, "r-1")
    [start] = sent
    assert start["type"] == "http.response.start"
    assert (b"x-request-id", event["request_id"].encode()) in start["headers"]


async def test_probes_are_not_request_logged(client: Client, logs: LogCapture) -> None:
    """Health and readiness probes do not flood the log."""
    await client.get("/health")
    await client.get("/ready")
    assert not [e for e in logs.entries if e["event"] == "request_completed"]
