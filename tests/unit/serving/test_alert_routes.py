"""``/v1/alerts``: filtered, paginated listing and labelling, with every rejection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core.alerts import AlertLabel, AlertStatus
from core.models import Outcome
from serving.routes.alerts import alert_listing
from storage.repository import AlertFilter
from tests.unit.serving.gateway_fakes import (
    ADMIN_KEY,
    NOW,
    READ_KEY,
    FakeRecords,
    auth,
    decide,
    make_transaction,
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
def stocked(records: FakeRecords) -> FakeRecords:
    """Six alerts (three review, three block) over two accounts, and one allow decision."""
    for n, amount in enumerate(["150", "300", "600", "1500", "1800", "2500", "20"], start=1):
        txn = make_transaction(n, amount, account_id="acc-1" if n % 2 else "acc-2")
        records.add(txn, decide(txn, txn.timestamp))
    return records


async def test_list_alerts_newest_first(client: Client, stocked: FakeRecords) -> None:
    """Without filters every alert is listed, newest first, with a cursor when more remain."""
    response = await client.get("/v1/alerts", params={"limit": 4}, headers=auth(READ_KEY))
    assert response.status_code == 200
    page = response.json()
    assert [a["transaction_id"] for a in page["items"]] == ["t-1", "t-2", "t-3", "t-4"]
    assert page["items"][0]["status"] == "open"
    assert page["next_cursor"] is not None


async def test_cursor_fetches_the_next_page(client: Client, stocked: FakeRecords) -> None:
    """Following next_cursor yields the remaining alerts and ends with a null cursor."""
    first = (await client.get("/v1/alerts", params={"limit": 4}, headers=auth(READ_KEY))).json()
    response = await client.get(
        "/v1/alerts", params={"limit": 4, "cursor": first["next_cursor"]}, headers=auth(READ_KEY)
    )
    page = response.json()
    assert [a["transaction_id"] for a in page["items"]] == ["t-5", "t-6"]
    assert page["next_cursor"] is None


async def test_default_page_size_is_capped_by_the_maximum(
    client: Client, stocked: FakeRecords
) -> None:
    """Without a limit the page size is 50, or the configured maximum (20 here) if lower."""
    await client.get("/v1/alerts", headers=auth(READ_KEY))
    [(_, limit, after)] = stocked.listings
    assert (limit, after) == (20, None)


async def test_list_alerts_passes_every_filter(client: Client, stocked: FakeRecords) -> None:
    """Outcome, status, label, rule, account, score and time filters reach the store, typed."""
    params = {
        "outcome": "block",
        "status": "open",
        "label": "fraud",
        "rule_id": "velocity",
        "account_id": "acc-2",
        "min_score": "0.8",
        "since": "2026-03-01T00:00:00Z",
        "until": "2026-03-02T00:00:00+01:00",
    }
    response = await client.get("/v1/alerts", params=params, headers=auth(READ_KEY))
    assert response.status_code == 200
    [(filters, _, _)] = stocked.listings
    assert filters is not None
    assert filters.outcome is Outcome.BLOCK
    assert filters.status is AlertStatus.OPEN
    assert filters.label is AlertLabel.FRAUD
    assert (filters.rule_id, filters.account_id, filters.min_score) == ("velocity", "acc-2", 0.8)
    assert filters.since == NOW.replace(hour=0, minute=0)
    assert filters.until is not None
    assert filters.until.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"outcome": "maybe"}, "query.outcome"),
        ({"status": "pending"}, "query.status"),
        ({"min_score": "1.5"}, "query.min_score"),
        ({"min_score": "high"}, "query.min_score"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "21"}, "query.limit"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "query.cursor"),
        ({"offset": "10"}, "query.offset"),
        ({"since": "2026-03-01T00:00:00"}, "query.since"),
        ({"since": "last tuesday"}, "query.since"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "query.until"),
        ({"min_scor": "0.5"}, "query.min_scor"),
    ],
)
async def test_bad_alert_query_is_400_naming_the_parameter(
    client: Client, params: dict[str, str], location: str
) -> None:
    """Bad, out-of-range, naive, inverted or unknown query parameters are 400 at query.<name>."""
    response = await client.get("/v1/alerts", params=params, headers=auth(READ_KEY))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["location"] for e in response.json()["errors"]] == [location]


def test_alert_listing_accepts_an_open_ended_range() -> None:
    """Only one end of the time range may be given; the page size is the limit given."""
    listing = alert_listing(AlertFilter(since=NOW), limit=10, cursor=None, max_page_size=10)
    assert (listing.filters.since, listing.filters.until, listing.limit) == (NOW, None, 10)


async def test_label_an_alert_records_who(client: Client, stocked: FakeRecords) -> None:
    """Labelling stores the verdict, the note, the key's subject and the time."""
    response = await client.post(
        "/v1/alerts/2/label",
        json={"label": "fraud", "note": "customer confirmed card stolen"},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 200, response.text
    alert = response.json()
    assert (alert["id"], alert["label"], alert["labelled_by"]) == (2, "fraud", "alice")
    assert alert["note"] == "customer confirmed card stolen"
    assert stocked.alerts[2].label is AlertLabel.FRAUD
    assert stocked.alerts[2].labelled_at == NOW


async def test_label_unknown_alert_is_404(client: Client) -> None:
    """Labelling an alert that does not exist is a 404 problem."""
    response = await client.post(
        "/v1/alerts/999/label", json={"label": "legit"}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("alert_id", ["0", "-3", str(2**63), "1e3"])
async def test_an_alert_id_outside_bigint_is_400(client: Client, alert_id: str) -> None:
    """Alert ids outside 1..2^63-1 (or not integers) are 400, never a database overflow."""
    response = await client.post(
        f"/v1/alerts/{alert_id}/label", json={"label": "legit"}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code in {400, 404}
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"label": "suspicious"}, "$.label"),
        ({}, "$.label"),
        ({"label": "fraud", "note": "x" * 4001}, "$.note"),
        ({"label": "fraud", "by": "mallory"}, "$.by"),
    ],
)
async def test_bad_label_is_400(
    client: Client, stocked: FakeRecords, body: dict[str, str], location: str
) -> None:
    """An unknown label, a missing label, an overlong note or an unknown field is 400."""
    response = await client.post("/v1/alerts/1/label", json=body, headers=auth(ADMIN_KEY))
    assert response.status_code == 400
    assert [e["location"] for e in response.json()["errors"]] == [location]
    assert stocked.alerts[1].label is None
