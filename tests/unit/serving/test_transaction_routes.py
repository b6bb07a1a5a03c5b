"""``/v1/transactions``: scoring one or a batch, reading a stored decision, and every rejection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from structlog.testing import LogCapture

from core.errors import ConflictError, DependencyUnavailableError
from tests.unit.serving.gateway_fakes import (
    NOW,
    READ_KEY,
    SCORE_KEY,
    FakeRecords,
    FakeScorer,
    auth,
    decide,
    make_transaction,
    transaction_body,
)

Client = AsyncTestClient[Litestar]
PROBLEM = "application/problem+json"


def _assert_problem(response: Any, status: int, locations: list[str] | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    if locations is not None:
        assert [e["location"] for e in problem.get("errors", [])] == locations
    return problem


async def test_score_one_transaction(client: Client, scorer: FakeScorer) -> None:
    """A valid transaction gets its decision; a missing timestamp becomes the arrival time."""
    response = await client.post(
        "/v1/transactions", json=transaction_body(amount="150.00"), headers=auth(SCORE_KEY)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["transaction_id"] == "t-1"
    assert body["outcome"] == "review"
    assert body["ruleset_version"] == "rules-v1"
    assert body["reasons"][0]["code"] == "amount"
    [[scored]] = scorer.batches
    assert scored.timestamp == NOW
    assert str(scored.amount) == "150.00"


async def test_score_keeps_the_clients_event_time(client: Client, scorer: FakeScorer) -> None:
    """A timestamp sent by the client is the event time the scorer sees."""
    body = transaction_body(timestamp="2026-03-01T08:00:00+01:00")
    response = await client.post("/v1/transactions", json=body, headers=auth(SCORE_KEY))
    assert response.status_code == 200
    assert scorer.batches[0][0].timestamp == NOW - timedelta(hours=2, minutes=30)


async def test_scoring_binds_ids_to_the_request_log(client: Client, logs: LogCapture) -> None:
    """The request's log event carries transaction_id and account_id."""
    await client.post("/v1/transactions", json=transaction_body(), headers=auth(SCORE_KEY))
    [event] = [e for e in logs.entries if e["event"] == "request_completed"]
    assert event["transaction_id"] == "t-1"
    assert event["account_id"] == "acc-1"
    assert event["status"] == 200


@pytest.mark.parametrize(
    ("overrides", "location"),
    [
        ({"colour": "red"}, "$.colour"),
        ({"amount": "lots"}, "$.amount"),
        ({"amount": -10}, "$.amount"),
        ({"amount": "NaN"}, "$.amount"),
        ({"amount": "Infinity"}, "$.amount"),
        ({"currency": "ZZZ"}, "$.currency"),
        ({"country": "QQ"}, "$.country"),
        ({"timestamp": "2026-03-01T09:00:00"}, "$.timestamp"),
        ({"timestamp": "2026-03-02T09:00:00Z"}, "$.timestamp"),
        ({"channel": 3}, "$.channel"),
        ({"attributes": []}, "$.attributes"),
    ],
)
async def test_bad_transaction_is_400_naming_the_field(
    client: Client, scorer: FakeScorer, overrides: dict[str, Any], location: str
) -> None:
    """Unknown fields, bad types, bad amounts, codes and timestamps are 400 at their path."""
    response = await client.post(
        "/v1/transactions", json=transaction_body(**overrides), headers=auth(SCORE_KEY)
    )
    _assert_problem(response, 400, [location])
    assert scorer.batches == []


@pytest.mark.parametrize("amount", [b"1e400", b"-0.0", b"1000000000.01"])
async def test_out_of_range_amount_is_400(client: Client, amount: bytes) -> None:
    """Amounts beyond the accepted range (huge, negative zero, over the maximum) are 400."""
    content = msgspec.json.encode(transaction_body()).replace(b'"42.50"', amount)
    headers = {**auth(SCORE_KEY), "content-type": "application/json"}
    response = await client.post("/v1/transactions", content=content, headers=headers)
    _assert_problem(response, 400, ["$.amount"])


@pytest.mark.parametrize(
    "content", [b"{", b"", b"[]", b"null", b'"text"', b'{"transaction_id": "t",}']
)
async def test_malformed_or_missing_json_is_400(client: Client, content: bytes) -> None:
    """Broken, empty or non-object JSON bodies are 400 problems located at the root."""
    headers = {**auth(SCORE_KEY), "content-type": "application/json"}
    response = await client.post("/v1/transactions", content=content, headers=headers)
    problem = _assert_problem(response, 400)
    assert problem["errors"][0]["location"] == "$"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_non_json_content_type_is_415(client: Client, content_type: str) -> None:
    """A body that is not declared as JSON is 415, naming the expected media type."""
    headers = {**auth(SCORE_KEY), "content-type": content_type}
    content = msgspec.json.encode(transaction_body())
    response = await client.post("/v1/transactions", content=content, headers=headers)
    problem = _assert_problem(response, 415)
    assert "application/json" in problem["detail"]


async def test_huge_body_is_413(client: Client, scorer: FakeScorer) -> None:
    """A body over the configured size limit is rejected with 413 before it is decoded."""
    body = transaction_body(attributes={"padding": "x" * 200}, note="y" * 70_000)
    response = await client.post("/v1/transactions", json=body, headers=auth(SCORE_KEY))
    _assert_problem(response, 413)
    assert scorer.batches == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ConflictError("t-1 was already scored with a different payload"), 409),
        (DependencyUnavailableError("redis did not answer"), 503),
    ],
)
async def test_scorer_errors_map_to_http(
    client: Client, scorer: FakeScorer, error: Exception, status: int
) -> None:
    """Errors the scorer raises come back through the one mapping as problems."""
    scorer.fail_with = error
    response = await client.post(
        "/v1/transactions", json=transaction_body(), headers=auth(SCORE_KEY)
    )
    _assert_problem(response, status)


async def test_unexpected_failure_is_500_without_internals(
    client: Client, scorer: FakeScorer, logs: LogCapture
) -> None:
    """A crash is a bare 500 problem with a request id; the exception is logged, not returned."""
    scorer.fail_with = RuntimeError("connection string postgresql://admin:pw@db")
    response = await client.post(
        "/v1/transactions", json=transaction_body(), headers=auth(SCORE_KEY)
    )
    problem = _assert_problem(response, 500)
    assert "postgresql" not in response.text
    assert problem["request_id"] == response.headers["x-request-id"]
    [crash] = [e for e in logs.entries if e["event"] == "request_crashed"]
    assert isinstance(crash["exc_info"], RuntimeError)
    assert crash["transaction_id"] == "t-1"


async def test_score_a_batch_in_order(client: Client, scorer: FakeScorer) -> None:
    """Each item gets its decision, in the order sent, from one scorer call."""
    items = [
        transaction_body(transaction_id="a", amount="5"),
        transaction_body(transaction_id="b", amount="500"),
        transaction_body(transaction_id="c", amount="5000"),
    ]
    response = await client.post(
        "/v1/transactions/batch", json={"items": items}, headers=auth(SCORE_KEY)
    )
    assert response.status_code == 200
    decisions = response.json()["decisions"]
    assert [(d["transaction_id"], d["outcome"]) for d in decisions] == [
        ("a", "allow"),
        ("b", "review"),
        ("c", "block"),
    ]
    assert len(scorer.batches) == 1


async def test_batch_reports_every_bad_item(client: Client, scorer: FakeScorer) -> None:
    """A batch with bad items is 400 listing each one at $.items[i].field; nothing is scored."""
    items = [
        transaction_body(transaction_id="a"),
        transaction_body(transaction_id="b", currency="XYZ"),
        transaction_body(transaction_id="c"),
        transaction_body(transaction_id="d", amount=-1, extra=True),
    ]
    response = await client.post(
        "/v1/transactions/batch", json={"items": items}, headers=auth(SCORE_KEY)
    )
    _assert_problem(response, 400, ["$.items[1].currency", "$.items[3].extra"])
    assert scorer.batches == []


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"items": []}, "$.items"),
        ({}, "$.items"),
        ({"items": {}}, "$.items"),
        ({"items": [], "mode": "fast"}, "$.mode"),
    ],
)
async def test_bad_batch_envelope_is_400(
    client: Client, body: dict[str, Any], location: str
) -> None:
    """An empty, missing or mistyped items list, or an unknown envelope field, is 400."""
    response = await client.post("/v1/transactions/batch", json=body, headers=auth(SCORE_KEY))
    _assert_problem(response, 400, [location])


async def test_batch_over_the_limit_is_400(client: Client, scorer: FakeScorer) -> None:
    """More items than the configured limit (5 here) is 400 at $.items."""
    items = [transaction_body(transaction_id=f"t-{i}") for i in range(6)]
    response = await client.post(
        "/v1/transactions/batch", json={"items": items}, headers=auth(SCORE_KEY)
    )
    problem = _assert_problem(response, 400, ["$.items"])
    assert "at most 5" in problem["errors"][0]["message"]
    assert scorer.batches == []


async def test_batch_with_repeated_ids_is_400(client: Client) -> None:
    """The same transaction_id twice in one batch is 400 at the repeat."""
    items = [transaction_body(), transaction_body()]
    response = await client.post(
        "/v1/transactions/batch", json={"items": items}, headers=auth(SCORE_KEY)
    )
    _assert_problem(response, 400, ["$.items[1].transaction_id"])


async def test_read_a_stored_decision(client: Client, records: FakeRecords) -> None:
    """A stored decision comes back with its transaction, reasons and versions."""
    txn = make_transaction(1, "250.00")
    records.add(txn, decide(txn, NOW))
    response = await client.get("/v1/transactions/t-1", headers=auth(READ_KEY))
    assert response.status_code == 200
    body = response.json()
    assert body["transaction"]["amount"] == "250.00"
    assert body["decision"]["outcome"] == "review"
    assert body["decision"]["reasons"][0]["kind"] == "model"
    assert body["decision"]["model_version"] == "model-v1"
    assert body["alert"]["outcome"] == "review"


async def test_unknown_transaction_is_404_problem(client: Client) -> None:
    """Asking for a transaction never stored is a 404 problem naming it."""
    response = await client.get("/v1/transactions/never-seen", headers=auth(READ_KEY))
    problem = _assert_problem(response, 404)
    assert "never-seen" in problem["detail"]


async def test_overlong_transaction_id_is_400(client: Client) -> None:
    """A path id longer than any identifier can be is 400 at path.transaction_id."""
    response = await client.get("/v1/transactions/" + "x" * 200, headers=auth(READ_KEY))
    _assert_problem(response, 400, ["path.transaction_id"])


async def test_no_client_mistake_is_a_500(build_app: Callable[..., Litestar]) -> None:
    """A spread of client mistakes never yields a 5xx."""
    async with AsyncTestClient(app=build_app()) as test_client:
        attempts = [
            test_client.post("/v1/transactions", content=b"\x00\x01", headers=auth(SCORE_KEY)),
            test_client.put("/v1/transactions", json={}, headers=auth(SCORE_KEY)),
            test_client.post("/v1/transactions", json=[1, 2], headers=auth(SCORE_KEY)),
            test_client.post(
                "/v1/transactions/batch", json={"items": [1]}, headers=auth(SCORE_KEY)
            ),
            test_client.get("/v1/transactions/%20", headers=auth(READ_KEY)),
            test_client.get("/v2/anything"),
        ]
        for attempt in attempts:
            response = await attempt
            assert 400 <= response.status_code < 500, response.text
            assert response.headers["content-type"] == PROBLEM
