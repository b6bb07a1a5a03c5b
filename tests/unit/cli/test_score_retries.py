"""`vigil score` retries what may pass later (no answer, 502/503/504) with backoff; never 4xx."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.engine_commands import register
from client.gateway import Failure, GatewayClient, GatewayReply
from client.retry import Backoff, with_retries
from config.settings import Settings
from tests.cli_apps import cli_with

BASE_URL = "http://gateway.test"
DECISION = {"transaction_id": "t", "outcome": "allow", "risk_score": 0.1, "reasons": []}


class Script:
    """Answers each transaction id with its scripted statuses in turn (0: drop the connection)."""

    def __init__(self, statuses: dict[str, list[int]]) -> None:
        self.statuses = statuses
        self.seen: Counter[str] = Counter()

    def next_status(self, transaction_id: str) -> int:
        """The status for this attempt of ``transaction_id`` (the last one repeats)."""
        script = self.statuses[transaction_id]
        self.seen[transaction_id] += 1
        return script[min(self.seen[transaction_id], len(script)) - 1]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """MockTransport handler."""
        status = self.next_status(json.loads(request.content)["transaction_id"])
        if status == 0:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status, json=DECISION if status == 200 else {"detail": "nope"})


async def score_once(
    script: Script, backoff: Backoff
) -> tuple[GatewayReply | Failure, int, list[float]]:
    """Score transaction ``t`` with retries over ``script``; the reply, attempts and waits."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    transport = httpx.MockTransport(script.handle)
    async with GatewayClient(BASE_URL, transport=transport) as client:
        reply, attempts = await with_retries(
            lambda: client.score({"transaction_id": "t"}),
            backoff,
            rng=random.Random(7),
            sleep=sleep,
        )
    return reply, attempts, waits


async def test_503_and_lost_connections_are_retried_until_an_answer() -> None:
    """A 503, a refused connection and a 504 are retried; the 200 after them is the answer."""
    script = Script({"t": [503, 0, 504, 200]})
    reply, attempts, waits = await score_once(script, Backoff(retries=5, base_s=0.1, cap_s=1.0))
    assert isinstance(reply, GatewayReply)
    assert reply.status == 200
    assert attempts == 4
    assert len(waits) == 3
    assert all(0 <= wait <= min(1.0, 0.1 * 2**n) for n, wait in enumerate(waits))


@pytest.mark.parametrize("status", [400, 401, 409, 429, 500])
async def test_other_answers_are_final(status: int) -> None:
    """4xx (and a 500, a bug rather than an outage) are not retried."""
    reply, attempts, waits = await score_once(Script({"t": [status, 200]}), Backoff())
    assert isinstance(reply, GatewayReply)
    assert (reply.status, attempts, waits) == (status, 1, [])


async def test_retries_stop_after_the_limit() -> None:
    """A gateway that stays away is tried 1 + retries times; the last failure is the answer."""
    reply, attempts, waits = await score_once(Script({"t": [0]}), Backoff(retries=3))
    assert isinstance(reply, Failure)
    assert attempts == 4
    assert len(waits) == 3


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    """Retry n waits a random time up to min(cap, base * 2**n); the waits are spread, not fixed."""
    backoff = Backoff(base_s=0.5, cap_s=4.0)
    rng = random.Random(1)
    for retry, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        waits = [backoff.delay_s(retry, rng) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling * 0.8
        assert len(set(waits)) == len(waits)


class _Handler(BaseHTTPRequestHandler):
    script: Script

    def do_POST(self) -> None:
        """Answer as scripted; 0 closes the connection without an answer."""
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        status = self.script.next_status(body["transaction_id"])
        if status == 0:
            self.close_connection = True
            return
        reply = {**DECISION, "transaction_id": body["transaction_id"]}
        content = json.dumps(reply if status == 200 else {"detail": f"status {status}"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Quiet."""


@pytest.fixture
def gateway_server() -> Iterator[tuple[str, Script]]:
    """A local HTTP server scripted per transaction: t-1 503 then 200, t-2 400, t-3 always 503,
    t-4 a dropped connection then 200."""
    script = Script({"t-1": [503, 200], "t-2": [400, 200], "t-3": [503], "t-4": [0, 200]})
    handler = type("Handler", (_Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_vigil_score_retries_and_reports_each_final_failure(
    tmp_path: Path, gateway_server: tuple[str, Script]
) -> None:
    """Transient failures are retried; the 400 and the lasting 503 are one line each; exit 1."""
    url, script = gateway_server
    path = tmp_path / "txns.jsonl"
    lines = [json.dumps(_transaction(f"t-{i}")) for i in range(1, 5)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = cli_with(register, Settings())
    result = CliRunner().invoke(
        app, ["score", str(path), "--gateway", url, "--retries", "2", "--concurrency", "4"]
    )
    assert result.exit_code == 1, result.output
    failed = [line for line in result.stderr.splitlines() if line.startswith("t-")]
    assert failed == [
        "t-2: HTTP 400: status 400",
        "t-3: HTTP 503 (after 3 attempts): status 503",
    ]
    scored = [line.split()[0] for line in result.stdout.splitlines()]
    assert scored == ["t-1", "t-4"]
    assert "2 scored, 2 failed" in result.stderr
    assert script.seen == {"t-1": 2, "t-2": 1, "t-3": 3, "t-4": 2}


def _transaction(transaction_id: str) -> dict[str, str]:
    return {
        "transaction_id": transaction_id,
        "account_id": "a-1",
        "amount": "12.50",
        "currency": "EUR",
        "timestamp": "2026-01-01T10:00:00+00:00",
        "merchant_id": "m-1",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "pos",
    }
