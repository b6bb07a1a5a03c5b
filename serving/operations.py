"""What the ``/v1/admin`` routes need from the running engine: the :class:`Operations` protocol.

The engine implements it (``runtime.operations.ServeOperations``, handed to the gateway factory on
the Serve replica); tests use an in-memory fake. Its results are the admin API shapes of
:mod:`core.admin`, which are also their wire form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.admin import (
    DeploymentInfo,
    ModelRegistryView,
    ModelSelection,
    RuleVersions,
    ScaleAccepted,
)


class Operations(Protocol):
    """List and scale the engine's deployments; report each rules replica's rule-set version;
    read the model registry and change which models live traffic is scored with."""

    @property
    def max_replicas(self) -> int:
        """The most replicas :meth:`scale` accepts for a deployment."""
        ...

    async def list_deployments(self) -> Sequence[DeploymentInfo]:
        """Every deployment with its status and target / running replica counts."""
        ...

    async def scale(self, deployment: str, replicas: int) -> ScaleAccepted:
        """Set ``deployment``'s replica count (``1 <= replicas <= max_replicas``).

        Returns once the change is accepted, before replicas start or stop. Raises
        :class:`core.errors.NotFoundError` for an unknown deployment.
        """
        ...

    async def rule_versions(self) -> RuleVersions:
        """The rule-set version of every live rules replica, and the one they agree on."""
        ...

    async def models(self) -> ModelRegistryView:
        """The model registry: every version, the live selection, the latest changes."""
        ...

    async def promote_model(self, version: str, *, by: str) -> ModelSelection:
        """Make ``version`` the champion and swap it in on every ensemble replica, in place.

        Raises :class:`core.errors.NotFoundError` for an unregistered version and
        :class:`core.errors.ConflictError` when its artifact no longer loads (nothing changes).
        """
        ...

    async def rollback_model(self, *, by: str) -> ModelSelection:
        """Give the champion role back to the model the current one replaced, and swap it in."""
        ...

    async def set_challenger(self, version: str | None, *, by: str) -> ModelSelection:
        """Score ``version`` in shadow on live traffic (``None``: stop); applied in place."""
        ...

    async def apply_models(self) -> ModelSelection:
        """Apply the registry's selection to the ensemble replicas (after a change made
        elsewhere, e.g. ``vigil models promote`` without ``--gateway``)."""
        ...
