"""Admin operations without a cluster: Serve's details as deployment infos, scale checks,
rule-version agreement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.admin import DeploymentInfo, ReplicaCounts
from core.errors import ConfigError, InvalidInputError, NotFoundError
from runtime.app_args import decode_args
from runtime.operations import ServeOperations
from runtime.ray_cluster import deployments_of
from runtime.rule_versions import MIN_TTL_S, active_version, announcement_ttl_s


def _deployment(status: str, target: int, states: list[str], message: str = "") -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "target_num_replicas": target,
        "replicas": [{"replica_id": f"r{i}", "state": s} for i, s in enumerate(states)],
    }


DETAILS: dict[str, Any] = {
    "applications": {
        "vigil": {
            "deployments": {
                "ensemble": _deployment("HEALTHY", 1, ["RUNNING"]),
                "rules": _deployment("UPSCALING", 2, ["RUNNING", "STARTING"]),
                "gateway": _deployment("HEALTHY", 1, ["RUNNING"]),
                "features": _deployment(
                    "UNHEALTHY", 1, ["STOPPING"], message="replica failed its health check"
                ),
            }
        }
    }
}


def test_serve_details_become_ordered_deployment_infos() -> None:
    """Deployments come gateway first, with the target and the replicas actually running."""
    assert deployments_of(DETAILS) == [
        DeploymentInfo(
            name="gateway",
            status="HEALTHY",
            replicas=ReplicaCounts(target=1, running=1),
            message="",
        ),
        DeploymentInfo(
            name="features",
            status="UNHEALTHY",
            replicas=ReplicaCounts(target=1, running=0),
            message="replica failed its health check",
        ),
        DeploymentInfo(
            name="rules",
            status="UPSCALING",
            replicas=ReplicaCounts(target=2, running=1),
            message="",
        ),
        DeploymentInfo(
            name="ensemble",
            status="HEALTHY",
            replicas=ReplicaCounts(target=1, running=1),
            message="",
        ),
    ]


def test_missing_application_is_not_found() -> None:
    """Details without the vigil application are a NotFoundError naming it."""
    with pytest.raises(NotFoundError, match="'vigil'"):
        deployments_of({"applications": {}})


@pytest.mark.parametrize(
    ("versions", "active"),
    [
        ({"a": "v1", "b": "v1"}, "v1"),
        ({"a": "v1", "b": "v2"}, None),
        ({"a": "v1"}, "v1"),
        ({}, None),
    ],
)
def test_active_version_is_the_one_all_replicas_share(
    versions: dict[str, str], active: str | None
) -> None:
    """The active version is reported only when every replica agrees."""
    assert active_version(versions) == active


def test_announcements_outlive_a_few_polls() -> None:
    """An announcement lives three poll intervals, never less than the minimum."""
    assert announcement_ttl_s(0.5) == MIN_TTL_S
    assert announcement_ttl_s(4.0) == 12


@pytest.fixture
async def operations() -> AsyncIterator[ServeOperations]:
    """Operations with a maximum of 3 replicas (the Redis client never connects here)."""
    ops = ServeOperations("redis://127.0.0.1:1/0", max_replicas=3)
    yield ops
    await ops.aclose()


async def test_scaling_an_unknown_deployment_is_not_found(operations: ServeOperations) -> None:
    """Only the application's four deployments can be scaled."""
    with pytest.raises(NotFoundError, match="gateway, features, rules, ensemble"):
        await operations.scale("writer", 2)


@pytest.mark.parametrize("replicas", [0, 4])
async def test_scaling_outside_the_range_is_invalid(
    operations: ServeOperations, replicas: int
) -> None:
    """Counts outside 1..max_replicas are rejected before Serve is asked."""
    with pytest.raises(InvalidInputError) as caught:
        await operations.scale("rules", replicas)
    assert [p.location for p in caught.value.problems] == ["$.replicas"]


def test_max_replicas_comes_from_the_application_args() -> None:
    """``max_replicas`` is an application arg (default 4) and must be at least 1."""
    assert decode_args({}).max_replicas == 4
    assert decode_args({"max_replicas": 2}).max_replicas == 2
    with pytest.raises(ConfigError):
        decode_args({"max_replicas": 0})
