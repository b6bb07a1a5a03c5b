"""The gateway client's admin calls against exactly the gateway's shapes (httpx MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from client.gateway import GatewayClient, GatewayReply, GatewayUnavailable
from core.admin import RuleVersions


def gateway(handler: httpx.MockTransport) -> GatewayClient:
    """A client on a mock gateway."""
    return GatewayClient("http://gw:8000/", api_key="k-1", transport=handler)


async def test_deployments_are_parsed_ignoring_unknown_keys() -> None:
    """Deployments decode into the admin shape; keys a newer gateway adds are ignored."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k-1"
        return httpx.Response(
            200,
            json=[
                {
                    "name": "rules",
                    "status": "HEALTHY",
                    "replicas": {"target": 3, "running": 2},
                    "message": "",
                    "queued": 4,
                },
            ],
        )

    (rules,) = await gateway(httpx.MockTransport(handle)).deployments()
    assert (rules.name, rules.status, rules.replicas.target, rules.replicas.running) == (
        "rules",
        "HEALTHY",
        3,
        2,
    )


async def test_scale_posts_the_replica_count() -> None:
    """Scaling is one POST with {"replicas": N} to the deployment's path."""
    seen: list[tuple[str, str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(202)

    await gateway(httpx.MockTransport(handle)).scale("features", 4)
    assert seen == [("POST", "/v1/admin/deployments/features/scale", {"replicas": 4})]


async def test_rule_versions_tell_who_lags() -> None:
    """all_at is true only when every replica reports the version."""

    def handle(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"versions": {"r1": "v2", "r2": "v1"}})

    versions = await gateway(httpx.MockTransport(handle)).rule_versions()
    assert not versions.all_at("v2")
    assert versions.behind("v2") == {"r2": "v1"}
    assert RuleVersions(versions={"r1": "v2"}).all_at("v2")
    assert not RuleVersions(versions={}).all_at("v2")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(503, json={"title": "Service Unavailable", "detail": "deploying"}),
            "answered 503 to GET /v1/admin/deployments: deploying",
        ),
        (httpx.Response(200, json=[{"name": "x"}]), "unknown shape"),
        (httpx.Response(200, text="<html>"), "non-JSON"),
    ],
)
async def test_bad_answers_are_gateway_unavailable(response: httpx.Response, message: str) -> None:
    """Errors, wrong shapes and non-JSON bodies become one error with a sentence."""
    client = gateway(httpx.MockTransport(lambda _request: response))
    with pytest.raises(GatewayUnavailable, match=message):
        await client.deployments()


async def test_refused_connection_is_unreachable() -> None:
    """A refused connection says the gateway is unreachable, naming its URL."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(GatewayUnavailable, match=r"http://gw:8000 is unreachable"):
        await gateway(httpx.MockTransport(handle)).rule_versions()


async def test_scoring_never_raises_for_a_dead_gateway() -> None:
    """score() turns a refused connection into a Failure instead of raising (load generators)."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    reply = await gateway(httpx.MockTransport(handle)).score({"transaction_id": "t"})
    assert not isinstance(reply, GatewayReply)
    assert "ConnectError" in reply.error
    assert not reply.timed_out
