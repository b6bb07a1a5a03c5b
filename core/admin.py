"""The admin API's shapes: deployments, their replica counts, scaling, rule-set versions.

``runtime`` produces them from the live Serve application, ``serving`` returns them as the
``/v1/admin`` routes' wire form (``serving.operations.Operations``), and clients read them back.
"""

from __future__ import annotations

import msgspec


class ReplicaCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many replicas a deployment should run, and how many run now."""

    target: int
    running: int


class DeploymentInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One Serve deployment as an operator sees it."""

    name: str
    status: str
    """Serve's deployment status: ``HEALTHY``, ``UPDATING``, ``UPSCALING``, ``UNHEALTHY``, ..."""
    replicas: ReplicaCounts
    message: str
    """Serve's explanation when something is wrong (empty otherwise)."""


class ScaleAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """A replica count change handed to Serve; the replicas start (or stop) after the answer."""

    name: str
    target: int


class RuleVersions(msgspec.Struct, frozen=True, kw_only=True):
    """The rule-set version each ``rules`` replica scores with, and the one they all agree on."""

    versions: dict[str, str]
    """Replica id → rule-set version."""
    active: str | None = None
    """The version every replica reports; ``None`` while they differ or none reports."""

    def all_at(self, version: str) -> bool:
        """Whether at least one replica reports and every replica reports ``version``."""
        return bool(self.versions) and all(v == version for v in self.versions.values())

    def behind(self, version: str) -> dict[str, str]:
        """Replicas not yet at ``version``, with the version they report."""
        return {r: v for r, v in sorted(self.versions.items()) if v != version}
