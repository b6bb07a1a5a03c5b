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

from core.admin import (
    DeploymentInfo,
    ModelRef,
    ModelRegistryView,
    ModelSelection,
    RuleVersions,
    ScaleAccepted,
)
from core.errors import (
    ConflictError,
    DependencyUnavailableError,
    InvalidInputError,
    ModelArtifactError,
    NotFoundError,
    Problem,
)
from runtime import ray_cluster
from runtime.app_args import DEPLOYMENT_NAMES
from runtime.rule_versions import active_version, read_versions
from storage.model_registry import ModelRegistry

ModelCheck = Callable[[ModelRef], None]
"""Loads a registered artifact the way the ensemble replicas will, raising if it cannot."""

REDIS_TIMEOUT_S: Final = 2.0
CONTROLLER_TIMEOUT_S: Final = 30.0
"""How long an answer from the Serve controller may take before the request gets a 503."""

_T = TypeVar("_T")


class ServeOperations:
    """List and scale the application's deployments; read the rules replicas' versions; change
    the models the ensemble replicas score with (registry in PostgreSQL, applied in place)."""

    def __init__(
        self,
        redis_url: str,
        *,
        max_replicas: int,
        registry: ModelRegistry | None = None,
        check_model: ModelCheck | None = None,
    ) -> None:
        self._redis = Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S)
        self._max_replicas = max_replicas
        self._scaling = asyncio.Lock()
        self._registry = registry
        self._check_model = check_model

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

    async def models(self) -> ModelRegistryView:
        """The registry: every version, the selection, the latest changes."""
        return await self._require_registry().view()

    async def promote_model(self, version: str, *, by: str) -> ModelSelection:
        """Check ``version`` loads, make it the champion, swap it in on the ensemble replicas."""
        registry = self._require_registry()
        async with self._scaling:
            await self._check(await registry.ref(version))
            selection = await registry.promote(version, by=by)
            await self._apply(selection)
        return selection

    async def rollback_model(self, *, by: str) -> ModelSelection:
        """Check the previous champion loads, give it the role back, swap it in."""
        registry = self._require_registry()
        async with self._scaling:
            await self._check(await registry.rollback_target())
            selection = await registry.rollback(by=by)
            await self._apply(selection)
        return selection

    async def set_challenger(self, version: str | None, *, by: str) -> ModelSelection:
        """Check ``version`` loads, make it the challenger (``None``: none), apply."""
        registry = self._require_registry()
        async with self._scaling:
            if version is not None:
                await self._check(await registry.ref(version))
            selection = await registry.set_challenger(version, by=by)
            await self._apply(selection)
        return selection

    async def apply_models(self) -> ModelSelection:
        """Apply the registry's current selection to the ensemble replicas."""
        registry = self._require_registry()
        async with self._scaling:
            selection = await registry.selection()
            for ref in (selection.champion, selection.challenger):
                if ref is not None:
                    await self._check(ref)
            await self._apply(selection)
        return selection

    def _require_registry(self) -> ModelRegistry:
        if self._registry is None:
            raise DependencyUnavailableError("this engine has no model registry (no database)")
        return self._registry

    async def _check(self, ref: ModelRef) -> None:
        if self._check_model is None:
            return
        try:
            await asyncio.to_thread(self._check_model, ref)
        except ModelArtifactError as exc:
            raise ConflictError(
                f"model {ref.version} cannot be loaded; nothing was changed",
                [Problem(ref.artifact_dir, exc.summary)],
            ) from exc

    async def _apply(self, selection: ModelSelection) -> None:
        await _ask_controller(lambda: ray_cluster.apply_models(selection))

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
