"""``/v1/admin``: list and scale deployments, read rule versions; admin scope, every rejection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.unit.serving.gateway_fakes import (
    ADMIN_KEY,
    READ_KEY,
    SCORE_KEY,
    FakeOperations,
    auth,
)

Client = AsyncTestClient[Litestar]
SCALE_RULES = "/v1/admin/deployments/rules/scale"


async def test_deployments_are_listed_with_their_replica_counts(client: Client) -> None:
    """Each deployment comes with its status, target and running replicas, and a message."""
    response = await client.get("/v1/admin/deployments", headers=auth(ADMIN_KEY))
    assert response.status_code == 200
    body = response.json()
    assert [d["name"] for d in body] == ["gateway", "features", "rules", "ensemble"]
    assert body[2] == {
        "name": "rules",
        "status": "HEALTHY",
        "replicas": {"target": 1, "running": 1},
        "message": "",
    }


async def test_scaling_answers_202_with_the_new_target(
    client: Client, operations: FakeOperations
) -> None:
    """A valid count is handed to the engine; the answer names the deployment and target."""
    response = await client.post(SCALE_RULES, json={"replicas": 2}, headers=auth(ADMIN_KEY))
    assert response.status_code == 202
    assert response.json() == {"name": "rules", "target": 2}
    assert operations.scaled == [("rules", 2)]
    listed = await client.get("/v1/admin/deployments", headers=auth(ADMIN_KEY))
    assert listed.json()[2]["replicas"] == {"target": 2, "running": 1}


async def test_scaling_an_unknown_deployment_is_404(
    client: Client, operations: FakeOperations
) -> None:
    """A deployment the engine does not have is a not-found problem."""
    response = await client.post(
        "/v1/admin/deployments/nope/scale", json={"replicas": 2}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:vigil:problem:not-found"
    assert operations.scaled == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"replicas": 0}, ">= 1"),
        ({"replicas": 4}, "at most 3"),
        ({"replicas": "2"}, "Expected `int`"),
        ({"replicas": 1.5}, "Expected `int`"),
        ({}, "required field is missing"),
    ],
)
async def test_bad_replica_counts_are_400_naming_the_field(
    client: Client, operations: FakeOperations, body: dict[str, Any], message: str
) -> None:
    """Counts below 1, above the engine's maximum, or not integers name $.replicas."""
    response = await client.post(SCALE_RULES, json=body, headers=auth(ADMIN_KEY))
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"] == "urn:vigil:problem:invalid-input"
    [error] = problem["errors"]
    assert error["location"] == "$.replicas"
    assert message in error["message"]
    assert operations.scaled == []


async def test_unknown_body_fields_are_400(client: Client) -> None:
    """A misspelt field is rejected rather than ignored."""
    response = await client.post(
        SCALE_RULES, json={"replicas": 2, "replica": 3}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 400
    assert [e["location"] for e in response.json()["errors"]] == ["$.replica"]


async def test_rule_versions_by_replica_with_the_agreed_version(
    client: Client, operations: FakeOperations
) -> None:
    """Every rules replica's version is listed; active is the version they share, else null."""
    response = await client.get("/v1/admin/rules", headers=auth(ADMIN_KEY))
    assert response.status_code == 200
    assert response.json() == {"versions": {"r1": "v1", "r2": "v1"}, "active": "v1"}
    operations.versions["r2"] = "v2"
    response = await client.get("/v1/admin/rules", headers=auth(ADMIN_KEY))
    assert response.json() == {"versions": {"r1": "v1", "r2": "v2"}, "active": None}


@pytest.mark.parametrize("key", [READ_KEY, SCORE_KEY])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/deployments"),
        ("POST", SCALE_RULES),
        ("GET", "/v1/admin/rules"),
    ],
)
async def test_admin_routes_need_the_admin_scope(
    client: Client, operations: FakeOperations, key: str, method: str, path: str
) -> None:
    """Keys without the admin scope get 403; no key at all gets 401; nothing is scaled."""
    body = {"replicas": 2} if method == "POST" else None
    forbidden = await client.request(method, path, json=body, headers=auth(key))
    assert forbidden.status_code == 403
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert operations.scaled == []


async def test_engine_unavailable_is_503(client: Client, operations: FakeOperations) -> None:
    """When the engine cannot answer, the admin routes say so with a 503 problem."""
    operations.unavailable = True
    for response in (
        await client.get("/v1/admin/deployments", headers=auth(ADMIN_KEY)),
        await client.post(SCALE_RULES, json={"replicas": 2}, headers=auth(ADMIN_KEY)),
        await client.get("/v1/admin/rules", headers=auth(ADMIN_KEY)),
    ):
        assert response.status_code == 503
        assert response.json()["type"] == "urn:vigil:problem:dependency-unavailable"


async def test_without_operations_there_are_no_admin_routes(
    build_app: Callable[..., Litestar],
) -> None:
    """A gateway built without engine operations does not serve /v1/admin at all."""
    async with AsyncTestClient(app=build_app(operations=None)) as client:
        response = await client.get("/v1/admin/deployments", headers=auth(ADMIN_KEY))
    assert response.status_code == 404
