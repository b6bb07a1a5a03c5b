"""The gateway's admin API as the web app uses it: deployments, scaling, rule-set versions.

Three calls, with exactly these shapes:

* ``GET /v1/admin/deployments`` → ``[{"name", "status", "replicas": {"target", "running"}, ...}]``
  (further keys, such as queue length or latency, are kept in :attr:`Deployment.details`);
* ``POST /v1/admin/deployments/{name}/scale`` with ``{"replicas": N}``;
* ``GET /v1/admin/rules`` → ``{"versions": {replica_id: version}}``.

Every failure (connection refused, timeout, a non-2xx answer, a body of the wrong shape) is a
:class:`GatewayUnavailable` carrying a sentence for the page, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import msgspec

DEPLOYMENTS_PATH: Final = "/v1/admin/deployments"
RULES_PATH: Final = "/v1/admin/rules"


class GatewayUnavailable(Exception):  # noqa: N818 - it names a state the page shows as is
    """The admin API could not be used; ``str(error)`` says why, for the page."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One Serve deployment: status, replicas running and wanted, and whatever else it reports."""

    name: str
    status: str
    target_replicas: int
    running_replicas: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleVersions:
    """The rule-set version each replica reports, by replica id."""

    by_replica: dict[str, str]

    def all_at(self, version: str) -> bool:
        """Whether at least one replica reports and every replica reports ``version``."""
        return bool(self.by_replica) and all(v == version for v in self.by_replica.values())

    def behind(self, version: str) -> dict[str, str]:
        """Replicas not yet at ``version``, with the version they report."""
        return {r: v for r, v in sorted(self.by_replica.items()) if v != version}


class _Replicas(msgspec.Struct):
    target: int
    running: int


class _Deployment(msgspec.Struct):
    name: str
    status: str
    replicas: _Replicas


class _Versions(msgspec.Struct):
    versions: dict[str, str]


class AdminGateway:
    """An async client of the admin API on ``base_url`` (``http://host:port``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"accept": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    async def deployments(self) -> list[Deployment]:
        """Every deployment of the Serve application."""
        body = await self._call("GET", DEPLOYMENTS_PATH)
        try:
            parsed = msgspec.convert(body, list[_Deployment])
        except msgspec.ValidationError as exc:
            raise GatewayUnavailable(
                f"the gateway sent deployments of an unknown shape: {exc}"
            ) from None
        known = {"name", "status", "replicas"}
        return [
            Deployment(
                name=d.name,
                status=d.status,
                target_replicas=d.replicas.target,
                running_replicas=d.replicas.running,
                details={k: v for k, v in raw.items() if k not in known},
            )
            for d, raw in zip(parsed, body, strict=True)
        ]

    async def scale(self, name: str, replicas: int) -> None:
        """Ask for ``replicas`` replicas of deployment ``name``."""
        await self._call("POST", f"{DEPLOYMENTS_PATH}/{name}/scale", {"replicas": replicas})

    async def rule_versions(self) -> RuleVersions:
        """The rule-set version every rules replica currently scores with."""
        body = await self._call("GET", RULES_PATH)
        try:
            return RuleVersions(by_replica=msgspec.convert(body, _Versions).versions)
        except msgspec.ValidationError as exc:
            raise GatewayUnavailable(
                f"the gateway sent rule versions of an unknown shape: {exc}"
            ) from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise GatewayUnavailable(
                f"the gateway at {self.base_url} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(
                f"the gateway at {self.base_url} is unreachable ({exc})"
            ) from None
        if response.is_error:
            raise GatewayUnavailable(
                f"the gateway answered {response.status_code} to {method} {path}: "
                f"{_problem(response)}"
            ) from None
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise GatewayUnavailable(
                f"the gateway sent a non-JSON answer to {method} {path}"
            ) from None


def _problem(response: httpx.Response) -> str:
    """The ``detail`` / ``title`` of a problem-details body, else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]
