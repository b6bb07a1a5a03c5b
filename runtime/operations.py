"""The admin operations on the live Serve application, as the gateway's ``/v1/admin`` routes use
them (they satisfy ``serving.operations.Operations``).

Everything that talks to the Serve controller blocks (``ray.get`` underneath), so it runs in a
worker thread, never on the replica's event loop. Scaling returns as soon as Serve has the new
target; the replicas start or drain afterwards, while the others keep serving (see
:func:`runtime.ray_cluster.apply_replicas`). Rule-set versions come from the announcements the rules
replicas publish in Redis (:mod:`runtime.rule_versions`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TypeVar

from ray.exceptions import RayError
from ray.serve.exceptions import RayServeException
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.admin import DeploymentInfo, RuleVersions, ScaleAccepted
from core.errors import DependencyUnavailableError, InvalidInputError, NotFoundError, Problem
from runtime import ray_cluster
from runtime.app_args import DEPLOYMENT_NAMES
from runtime.rule_versions import active_version, read_versions

REDIS_TIMEOUT_S: Final = 2.0
CONTROLLER_TIMEOUT_S: Final = 30.0
"""How long an answer from the Serve controller may take before the request gets a 503."""

_T = TypeVar("_T")


class ServeOperations:
    """List and scale the application's deployments; read the rules replicas' versions."""

    def __init__(self, redis_url: str, *, max_replicas: int) -> None:
        self._redis = Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S)
        self._max_replicas = max_replicas
        self._scaling = asyncio.Lock()

    @property
    def max_replicas(self) -> int:
        """The most replicas :meth:`scale` sets a deployment to."""
        return self._max_replicas

    async def list_deployments(self) -> list[DeploymentInfo]:
        """Every deployment with its Serve status and target / running replica counts."""
        return await _ask_controller(ray_cluster.deployment_infos)

    async def scale(self, deployment: str, replicas: int) -> ScaleAccepted:
        """Give ``deployment`` a new replica count; return once Serve has accepted it.

        :class:`NotFoundError` for an unknown deployment, :class:`InvalidInputError` for a count
        outside ``1..max_replicas``. One change at a time per gateway replica: each re-applies
        the whole deployed config, so two at once could undo each other.
        """
        if deployment not in DEPLOYMENT_NAMES:
            raise NotFoundError(
                f"no deployment named {deployment!r}; known: {', '.join(DEPLOYMENT_NAMES)}"
            )
        if not 1 <= replicas <= self._max_replicas:
            raise InvalidInputError(
                "the replica count is out of range",
                [Problem("$.replicas", f"must be between 1 and {self._max_replicas}")],
            )
        async with self._scaling:
            await _ask_controller(lambda: ray_cluster.apply_replicas(deployment, replicas))
        return ScaleAccepted(name=deployment, target=replicas)

    async def rule_versions(self) -> RuleVersions:
        """The version each live rules replica announced, and the one they agree on."""
        try:
            versions = await read_versions(self._redis)
        except (RedisError, OSError) as exc:
            raise DependencyUnavailableError(
                f"cannot read rule versions from Redis: {exc}"
            ) from exc
        return RuleVersions(versions=versions, active=active_version(versions))

    async def aclose(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()


async def _ask_controller(call: Callable[[], _T]) -> _T:
    """Run a blocking Serve controller call in a thread; a 503 when Serve cannot answer."""
    try:
        async with asyncio.timeout(CONTROLLER_TIMEOUT_S):
            return await asyncio.to_thread(call)
    except TimeoutError as exc:
        raise DependencyUnavailableError(
            f"the Serve controller did not answer within {CONTROLLER_TIMEOUT_S:g} s"
        ) from exc
    except (RayError, RayServeException, NotFoundError) as exc:
        raise DependencyUnavailableError(f"the Serve controller cannot answer: {exc}") from exc
