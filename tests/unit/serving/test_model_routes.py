"""``/v1/admin/models``: registry view, promote, rollback, challenger; admin scope, rejections."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.unit.serving.gateway_fakes import ADMIN_KEY, READ_KEY, FakeOperations, auth

Client = AsyncTestClient[Litestar]


async def test_promote_answers_the_new_selection_and_records_who(
    client: Client, operations: FakeOperations
) -> None:
    """Promoting a registered version answers the selection with it as champion."""
    response = await client.post("/v1/admin/models/m2/promote", headers=auth(ADMIN_KEY))
    assert response.status_code == 200, response.text
    assert response.json()["champion"]["version"] == "m2"
    assert response.json()["challenger"] is None
    assert [change[:2] for change in operations.changes] == [("promote", "m2")]


async def test_promoting_an_unknown_version_is_404(
    client: Client, operations: FakeOperations
) -> None:
    """An unregistered version is a not-found problem; nothing changes."""
    response = await client.post("/v1/admin/models/nope/promote", headers=auth(ADMIN_KEY))
    assert response.status_code == 404
    assert response.json()["type"] == "urn:vigil:problem:not-found"
    assert operations.changes == []


async def test_rollback_without_history_is_400_naming_the_champion(client: Client) -> None:
    """Nothing to roll back is an invalid-input problem that says why."""
    response = await client.post("/v1/admin/models/rollback", headers=auth(ADMIN_KEY))
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "champion"


async def test_challenger_is_set_and_cleared(client: Client, operations: FakeOperations) -> None:
    """PUT sets the shadow challenger; ``null`` clears it."""
    response = await client.put(
        "/v1/admin/models/challenger", json={"version": "m1"}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 200, response.text
    assert response.json()["challenger"]["version"] == "m1"
    cleared = await client.put(
        "/v1/admin/models/challenger", json={"version": None}, headers=auth(ADMIN_KEY)
    )
    assert cleared.json()["challenger"] is None


@pytest.mark.parametrize(
    ("body", "location"),
    [({}, "$.version"), ({"version": ""}, "$.version"), ({"version": "m1", "x": 1}, "$.x")],
)
async def test_bad_challenger_bodies_are_400_naming_the_field(
    client: Client, operations: FakeOperations, body: dict[str, object], location: str
) -> None:
    """A missing, empty or extra field is named; nothing changes."""
    response = await client.put("/v1/admin/models/challenger", json=body, headers=auth(ADMIN_KEY))
    assert response.status_code == 400
    assert [e["location"] for e in response.json()["errors"]] == [location]
    assert operations.changes == []


async def test_model_routes_need_the_admin_scope(
    client: Client, operations: FakeOperations
) -> None:
    """A read key gets 403 on every model route; nothing changes."""
    for method, path in [
        ("GET", "/v1/admin/models"),
        ("POST", "/v1/admin/models/m1/promote"),
        ("POST", "/v1/admin/models/rollback"),
        ("POST", "/v1/admin/models/apply"),
    ]:
        response = await client.request(method, path, headers=auth(READ_KEY))
        assert response.status_code == 403, path
    assert operations.changes == []
