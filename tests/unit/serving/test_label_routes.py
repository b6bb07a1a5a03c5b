"""``POST /v1/labels``: per-item answers, strict bodies, the online push and its failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from structlog.testing import LogCapture

from core.alerts import AlertLabel
from core.labels import KnownLabel
from serving import labels as serving_labels
from tests.unit.serving.gateway_fakes import (
    ADMIN_KEY,
    LABEL_KEY,
    NOW,
    READ_KEY,
    SCORE_KEY,
    FakeLabels,
    FakePublisher,
    FakeRecords,
    auth,
    decide,
    make_transaction,
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
def stocked(records: FakeRecords) -> FakeRecords:
    """Stored transactions t-1 (a review alert, device d-1) and t-2 (allowed)."""
    first = msgspec.structs.replace(make_transaction(1, "150"), device_id="d-1")
    second = make_transaction(2, "20", account_id="acc-2")
    for txn in (first, second):
        records.add(txn, decide(txn, txn.timestamp))
    return records


def item(transaction_id: str = "t-1", **fields: Any) -> dict[str, Any]:
    """One label item: fraud, with ``fields`` added."""
    return {"transaction_id": transaction_id, "label": "fraud", **fields}


async def test_each_item_is_answered_in_order(
    client: Client, stocked: FakeRecords, labels: FakeLabels
) -> None:
    """Known transactions are recorded, unknown ones reported per item; counts add up; a missing
    known_at is the gateway's clock and a missing source is api."""
    body = {
        "items": [
            item("t-1", known_at="2026-02-20T10:00:00+01:00", source="chargeback"),
            item("t-404"),
            {"transaction_id": "t-2", "label": "legit"},
        ]
    }
    response = await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(i["transaction_id"], i["status"]) for i in answer["items"]] == [
        ("t-1", "recorded"),
        ("t-404", "unknown_transaction"),
        ("t-2", "recorded"),
    ]
    assert (answer["recorded"], answer["unchanged"], answer["unknown_transaction"]) == (2, 0, 1)
    assert answer["items"][0]["current"] == "fraud"
    assert answer["items"][1]["current"] is None
    assert answer["items"][2]["source"] == "api"
    assert answer["items"][2]["known_at"] == "2026-03-01T09:30:00Z"
    assert [(event.source, by) for event, by in labels.events] == [
        ("chargeback", "chargebacks"),
        ("api", "chargebacks"),
    ]


async def test_resending_a_batch_is_unchanged(client: Client, stocked: FakeRecords) -> None:
    """The same batch twice stores each label once; the second answer says unchanged."""
    body = {"items": [item(known_at="2026-02-20T10:00:00Z")]}
    await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))
    again = (await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))).json()
    assert [i["status"] for i in again["items"]] == ["unchanged"]


@pytest.mark.parametrize(
    ("items", "locations"),
    [
        (
            [item(), item(), item(), item(label="maybe")],
            ["$.items[3].label"],
        ),
        (
            [item(known_at="2026-02-20T10:00:00"), item(colour="red"), item(transaction_id="a b")],
            ["$.items[0].known_at", "$.items[1].colour", "$.items[2].transaction_id"],
        ),
        ([item(source="Charge Back")], ["$.items[0].source"]),
        ([{"label": "fraud"}], ["$.items[0].transaction_id"]),
        ([], ["$.items"]),
    ],
)
async def test_malformed_items_are_400_naming_each_field(
    client: Client,
    stocked: FakeRecords,
    labels: FakeLabels,
    items: list[dict[str, Any]],
    locations: list[str],
) -> None:
    """A body with malformed items is 400 naming every bad field; nothing is stored."""
    response = await client.post("/v1/labels", json={"items": items}, headers=auth(LABEL_KEY))
    assert response.status_code == 400, response.text
    assert [e["location"] for e in response.json()["errors"]] == locations
    assert labels.events == []


async def test_known_at_too_far_ahead_is_400(client: Client, stocked: FakeRecords) -> None:
    """A known_at beyond the allowed clock skew is 400 at that item's field."""
    ahead = (NOW + timedelta(hours=1)).isoformat()
    body = {"items": [item(), item(known_at=ahead)]}
    response = await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))
    assert response.status_code == 400
    assert [e["location"] for e in response.json()["errors"]] == ["$.items[1].known_at"]


async def test_too_many_items_are_400(client: Client, stocked: FakeRecords) -> None:
    """More items than max_label_items is 400 naming the limit."""
    body = {"items": [item() for _ in range(6)]}
    response = await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))
    assert response.status_code == 400
    assert "at most 5" in response.json()["errors"][0]["message"]


async def test_publisher_gets_known_labels_with_entities(
    client: Client, stocked: FakeRecords, publisher: FakePublisher
) -> None:
    """Stored labels (new or unchanged) reach the publisher with their transaction's entities;
    unknown ones do not."""
    body = {"items": [item("t-1"), item("t-404")]}
    response = await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))
    assert response.json()["online"] is True
    assert response.json()["online_detail"] is None
    [[label]] = publisher.published
    assert (label.transaction_id, label.label, label.account_id, label.merchant_id) == (
        "t-1",
        AlertLabel.FRAUD,
        "acc-1",
        "m-1",
    )
    assert label.device_id == "d-1"
    assert label.event_time == NOW - timedelta(minutes=1)
    await client.post("/v1/labels", json=body, headers=auth(LABEL_KEY))
    assert len(publisher.published) == 2  # a resent batch is pushed again


async def test_failing_publisher_keeps_the_labels(
    client: Client,
    stocked: FakeRecords,
    labels: FakeLabels,
    publisher: FakePublisher,
    logs: LogCapture,
) -> None:
    """When the push fails the labels stay stored, the answer says online false and why, and
    labels_publish_failed is logged."""
    publisher.fail_with = ConnectionError("redis is down")
    response = await client.post("/v1/labels", json={"items": [item()]}, headers=auth(LABEL_KEY))
    assert response.status_code == 200
    answer = response.json()
    assert answer["online"] is False
    assert "failed" in answer["online_detail"]
    assert answer["items"][0]["status"] == "recorded"
    assert len(labels.events) == 1
    [failed] = [e for e in logs.entries if e["event"] == "labels_publish_failed"]
    assert "redis is down" in failed["error"]


async def test_slow_publisher_counts_as_failed(
    client: Client, stocked: FakeRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push that takes longer than the timeout is answered online false, labels stored."""

    class Stuck:
        async def publish(self, labels: Sequence[KnownLabel]) -> None:
            await asyncio.sleep(10)

    monkeypatch.setattr(serving_labels, "PUBLISH_TIMEOUT_S", 0.05)
    answer = await serving_labels.publish_labels(Stuck(), [])
    assert answer == (True, None)  # nothing to push, nothing waited for
    result = await serving_labels.publish_labels(Stuck(), [_any_label()])
    assert result[0] is False


async def test_without_a_publisher_labels_are_stored_only(
    build_app: Callable[..., Litestar], stocked: FakeRecords, labels: FakeLabels
) -> None:
    """With no online store configured the answer says online false; the labels are stored."""
    async with AsyncTestClient(app=build_app(label_publisher=None)) as test_client:
        response = await test_client.post(
            "/v1/labels", json={"items": [item()]}, headers=auth(LABEL_KEY)
        )
    answer = response.json()
    assert (answer["online"], answer["online_detail"]) == (False, serving_labels.NOT_CONFIGURED)
    assert len(labels.events) == 1


@pytest.mark.parametrize(("key", "status"), [(READ_KEY, 403), (SCORE_KEY, 403), (ADMIN_KEY, 200)])
async def test_the_label_scope_is_needed(
    client: Client, stocked: FakeRecords, key: str, status: int
) -> None:
    """Only keys holding label (or admin) may send labels."""
    response = await client.post("/v1/labels", json={"items": [item()]}, headers=auth(key))
    assert response.status_code == status


async def test_alert_verdict_is_pushed_online(
    client: Client, stocked: FakeRecords, publisher: FakePublisher
) -> None:
    """Labelling an alert (with the label scope) pushes the transaction's current label."""
    response = await client.post(
        "/v1/alerts/1/label", json={"label": "legit"}, headers=auth(LABEL_KEY)
    )
    assert response.status_code == 200, response.text
    assert publisher.published == []  # the fake records store keeps no label events
    # with a label event stored, its current label is pushed
    await client.post("/v1/labels", json={"items": [item("t-1")]}, headers=auth(LABEL_KEY))
    await client.post("/v1/alerts/1/label", json={"label": "legit"}, headers=auth(LABEL_KEY))
    assert [[label.transaction_id for label in batch] for batch in publisher.published] == [
        ["t-1"],
        ["t-1"],
    ]


async def test_failing_push_of_a_verdict_still_answers(
    client: Client, stocked: FakeRecords, publisher: FakePublisher, logs: LogCapture
) -> None:
    """An alert verdict whose push fails is still answered 200 (it is stored)."""
    await client.post("/v1/labels", json={"items": [item("t-1")]}, headers=auth(LABEL_KEY))
    publisher.fail_with = RuntimeError("boom")
    response = await client.post(
        "/v1/alerts/1/label", json={"label": "fraud"}, headers=auth(LABEL_KEY)
    )
    assert response.status_code == 200
    assert any(e["event"] == "labels_publish_failed" for e in logs.entries)


def _any_label() -> KnownLabel:
    return KnownLabel(
        transaction_id="t-1",
        label=AlertLabel.FRAUD,
        known_at=NOW,
        source="api",
        account_id="acc-1",
        merchant_id="m-1",
        event_time=NOW,
    )
