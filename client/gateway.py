"""The one async client of the gateway's HTTP API.

Scoring and readiness (``vigil demo`` / ``score`` / ``status``, the benchmarks, the fault tests)
never raise for HTTP or network errors: each call returns a :class:`GatewayReply` or a
:class:`Failure`, so load generators count them. The admin calls (``deployments``, ``scale``,
``rule_versions``, used by the web app; the model registry calls, used by ``vigil models``) and
``send_labels`` (``vigil labels import --gateway``)
return the API's own shapes (:mod:`core.admin`, :mod:`core.labels`) and raise
:class:`GatewayUnavailable` with a sentence for the page on any failure (connection refused,
timeout, a non-2xx answer, a body of the wrong shape), never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from core.admin import DeploymentInfo, ModelRegistryView, ModelSelection, RuleVersions
from core.labels import LabelBatchResult

_S = TypeVar("_S")

SCORE_PATH: Final = "/v1/transactions"
READY_PATH: Final = "/ready"
DEPLOYMENTS_PATH: Final = "/v1/admin/deployments"
RULES_PATH: Final = "/v1/admin/rules"
LABELS_PATH: Final = "/v1/labels"
MODELS_PATH: Final = "/v1/admin/models"


class GatewayUnavailable(Exception):  # noqa: N818 - it names a state the page shows as is
    """An admin call could not be made; ``str(error)`` says why, for the page."""


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """One HTTP answer: status, decoded JSON body (or the text), and how long it took."""

    status: int
    body: Any
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the gateway answered 2xx."""
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Failure:
    """A request that got no HTTP answer (connection refused, timeout, ...)."""

    error: str
    seconds: float
    timed_out: bool = False


class GatewayClient:
    """Talks to one gateway over a pooled HTTP/1.1 connection set."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def score(self, payload: Mapping[str, Any]) -> GatewayReply | Failure:
        """POST one transaction; never raises for HTTP or network errors."""
        return await self._call("POST", SCORE_PATH, msgspec.json.encode(payload))

    async def ready(self) -> GatewayReply | Failure:
        """GET the readiness report."""
        return await self._call("GET", READY_PATH, None)

    async def deployments(self) -> list[DeploymentInfo]:
        """Every deployment of the Serve application (unknown keys are ignored)."""
        body = await self._admin("GET", DEPLOYMENTS_PATH)
        try:
            return msgspec.convert(body, list[DeploymentInfo])
        except msgspec.ValidationError as exc:
            raise GatewayUnavailable(
                f"the gateway sent deployments of an unknown shape: {exc}"
            ) from None

    async def scale(self, name: str, replicas: int) -> None:
        """Ask for ``replicas`` replicas of deployment ``name``."""
        await self._admin("POST", f"{DEPLOYMENTS_PATH}/{name}/scale", {"replicas": replicas})

    async def rule_versions(self) -> RuleVersions:
        """The rule-set version every rules replica currently scores with."""
        body = await self._admin("GET", RULES_PATH)
        try:
            return msgspec.convert(body, RuleVersions)
        except msgspec.ValidationError as exc:
            raise GatewayUnavailable(
                f"the gateway sent rule versions of an unknown shape: {exc}"
            ) from None

    async def send_labels(self, items: Sequence[Mapping[str, Any]]) -> LabelBatchResult:
        """POST a batch of labels to ``/v1/labels``; one result per item, in order.

        Raises :class:`GatewayUnavailable` on any failure, a refused batch (400) with the
        problems the gateway named.
        """
        body = await self._admin("POST", LABELS_PATH, {"items": list(items)})
        try:
            return msgspec.convert(body, LabelBatchResult)
        except msgspec.ValidationError as exc:
            raise GatewayUnavailable(
                f"the gateway sent a label answer of an unknown shape: {exc}"
            ) from None

    async def models(self) -> ModelRegistryView:
        """The model registry: versions, the live selection, the latest changes."""
        return _shape(await self._admin("GET", MODELS_PATH), ModelRegistryView, "model registry")

    async def promote_model(self, version: str) -> ModelSelection:
        """Make ``version`` the champion; answers once every ensemble replica was told."""
        body = await self._admin("POST", f"{MODELS_PATH}/{quote(version, safe='')}/promote")
        return _shape(body, ModelSelection, "model selection")

    async def rollback_model(self) -> ModelSelection:
        """Give the champion role back to the previous champion."""
        body = await self._admin("POST", f"{MODELS_PATH}/rollback")
        return _shape(body, ModelSelection, "model selection")

    async def set_challenger(self, version: str | None) -> ModelSelection:
        """Score ``version`` in shadow (``None``: stop)."""
        body = await self._admin("PUT", f"{MODELS_PATH}/challenger", {"version": version})
        return _shape(body, ModelSelection, "model selection")

    async def apply_models(self) -> ModelSelection:
        """Load the registry's selection on the ensemble replicas."""
        body = await self._admin("POST", f"{MODELS_PATH}/apply")
        return _shape(body, ModelSelection, "model selection")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: bytes | None) -> GatewayReply | Failure:
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, content=body)
        except httpx.HTTPError as exc:
            return Failure(
                error=f"{type(exc).__name__}: {exc}",
                seconds=_since(started),
                timed_out=isinstance(exc, httpx.TimeoutException),
            )
        seconds = _since(started)
        try:
            decoded: Any = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            decoded = response.text
        return GatewayReply(status=response.status_code, body=decoded, seconds=seconds)

    async def _admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """An admin call's decoded JSON body (``None`` when empty); raises GatewayUnavailable."""
        payload = None if body is None else msgspec.json.encode(body)
        reply = await self._call(method, path, payload)
        if isinstance(reply, Failure):
            cause = (
                "did not answer in time" if reply.timed_out else f"is unreachable ({reply.error})"
            )
            raise GatewayUnavailable(f"the gateway at {self.base_url} {cause}")
        if not reply.ok:
            raise GatewayUnavailable(
                f"the gateway answered {reply.status} to {method} {path}: {_problem(reply.body)}"
            )
        if isinstance(reply.body, str):
            if not reply.body:
                return None
            raise GatewayUnavailable(f"the gateway sent a non-JSON answer to {method} {path}")
        return reply.body


def _shape(body: Any, shape: type[_S], what: str) -> _S:
    try:
        return msgspec.convert(body, shape)
    except msgspec.ValidationError as exc:
        raise GatewayUnavailable(f"the gateway sent a {what} of an unknown shape: {exc}") from None


def _problem(body: Any) -> str:
    """The ``detail`` / ``title`` of a problem-details body and its first located ``errors``,
    else the start of the text."""
    if isinstance(body, dict):
        text = str(body.get("detail") or body.get("title") or body)[:200]
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            located = [
                f"{e.get('location')}: {e.get('message')}"
                for e in errors[:3]
                if isinstance(e, dict)
            ]
            text += " (" + "; ".join(located) + (", ..." if len(errors) > 3 else "") + ")"
        return text
    return str(body)[:200] or "no detail"


def _since(started: float) -> float:
    return time.perf_counter() - started
