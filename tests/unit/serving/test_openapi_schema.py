"""The OpenAPI document: every route, request bodies from the wire structs, problem responses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from serving.settings import GatewaySettings

Client = AsyncTestClient[Litestar]

OPERATIONS = [
    ("post", "/v1/transactions"),
    ("post", "/v1/transactions/batch"),
    ("get", "/v1/transactions/{transaction_id}"),
    ("get", "/v1/alerts"),
    ("post", "/v1/alerts/{alert_id}/label"),
    ("post", "/v1/labels"),
    ("get", "/v1/admin/deployments"),
    ("post", "/v1/admin/deployments/{name}/scale"),
    ("get", "/v1/admin/rules"),
    ("get", "/v1/admin/models"),
    ("post", "/v1/admin/models/{version}/promote"),
    ("post", "/v1/admin/models/rollback"),
    ("put", "/v1/admin/models/challenger"),
    ("post", "/v1/admin/models/apply"),
    ("get", "/health"),
    ("get", "/ready"),
]


@pytest.fixture
async def schema(client: Client) -> dict[str, Any]:
    """The generated OpenAPI document."""
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_route_is_documented(schema: dict[str, Any]) -> None:
    """Each route appears with its method, and nothing else does."""
    documented = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert documented == set(OPERATIONS)


async def test_request_bodies_are_the_wire_structs(schema: dict[str, Any]) -> None:
    """The strict-decoded bodies are documented with their structs; timestamp is optional."""
    paths = schema["paths"]
    body = paths["/v1/transactions"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/TransactionIn")
    transaction_in = schema["components"]["schemas"]["TransactionIn"]
    assert "timestamp" not in transaction_in["required"]
    assert {"transaction_id", "amount", "currency", "country"} <= set(transaction_in["required"])
    assert "requestBody" in paths["/v1/transactions/batch"]["post"]
    assert "requestBody" in paths["/v1/alerts/{alert_id}/label"]["post"]
    labels = paths["/v1/labels"]["post"]["requestBody"]["content"]["application/json"]
    assert labels["schema"]["$ref"].endswith("/LabelBatchIn")
    label_item = schema["components"]["schemas"]["LabelItemIn"]
    assert set(label_item["required"]) == {"transaction_id", "label"}


async def test_errors_are_documented_as_problem_details(schema: dict[str, Any]) -> None:
    """Error responses of /v1 routes are application/problem+json ProblemDetails."""
    responses = schema["paths"]["/v1/transactions"]["post"]["responses"]
    assert {"200", "400", "401", "403", "409", "413", "415", "503"} <= responses.keys()
    problem = responses["400"]["content"]["application/problem+json"]["schema"]
    assert problem["$ref"].endswith("/ProblemDetails")


async def test_v1_routes_require_the_api_key_scheme(schema: dict[str, Any]) -> None:
    """/v1 operations carry the bearer API-key requirement; the probes do not."""
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/v1/alerts"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


async def test_every_keyed_operation_documents_the_rate_limit(schema: dict[str, Any]) -> None:
    """Each /v1 operation documents 401 and, with it, the per-key 429; the probes neither."""
    for path, item in schema["paths"].items():
        for operation in item.values():
            codes = operation["responses"].keys()
            keyed = path.startswith("/v1")
            assert ({"401", "429"} <= codes) is keyed, (path, sorted(codes))


async def test_admin_routes_document_their_shapes(schema: dict[str, Any]) -> None:
    """The admin routes document their bodies, the 202 of scaling and their problem responses."""
    paths, components = schema["paths"], schema["components"]["schemas"]
    scale = paths["/v1/admin/deployments/{name}/scale"]["post"]
    assert {"202", "400", "401", "403", "404", "503"} <= scale["responses"].keys()
    assert scale["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ScaleIn"
    )
    assert scale["tags"] == ["admin"]
    assert set(components["DeploymentInfo"]["properties"]) == {
        "name",
        "status",
        "replicas",
        "message",
    }
    assert set(components["RuleVersions"]["properties"]) == {"versions", "active"}
    listed = paths["/v1/admin/deployments"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["type"] == "array"


async def test_with_auth_off_no_operation_asks_for_a_key(
    build_app: Callable[..., Litestar], settings: GatewaySettings
) -> None:
    """With authentication disabled the schema does not claim a key is required."""
    app = build_app(settings=dataclasses.replace(settings, auth_enabled=False))
    async with AsyncTestClient(app=app) as client:
        document = (await client.get("/schema/openapi.json")).json()
    assert all(
        "security" not in operation
        for path in document["paths"].values()
        for operation in path.values()
    )
