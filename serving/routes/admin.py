"""``/v1/admin``: the engine's deployments (list, scale), the rules replicas' versions and the model
registry (:mod:`serving.routes.models`).

Every route needs the ``admin`` scope. The work is done by the injected
:class:`~serving.operations.Operations`; these handlers check the request and present the answer.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

import structlog
from litestar import Router, get, post
from litestar.params import JSONBody, PathParameter

from core.admin import DeploymentInfo, RuleVersions, ScaleAccepted
from core.errors import InvalidInputError, Problem
from serving.auth import Scope, requires
from serving.body import StrictJSON
from serving.decoding import INVALID_BODY
from serving.deps import OperationsDep, PrincipalDep
from serving.routes import problem_responses
from serving.routes.models import MODEL_ROUTES
from serving.wire import ScaleIn

_log = structlog.get_logger("vigil.serving")
_READ_ERRORS = problem_responses(
    HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.SERVICE_UNAVAILABLE
)


@get("/deployments", opt=requires(Scope.ADMIN), responses=_READ_ERRORS, summary="List deployments")
async def list_deployments(operations: OperationsDep) -> list[DeploymentInfo]:
    """Every Serve deployment of the engine: its status and its target and running replicas.

    ``status`` is Serve's (``HEALTHY``, ``UPDATING``, ``UPSCALING``, ``DOWNSCALING``,
    ``UNHEALTHY``, ...); ``message`` explains a problem and is empty otherwise.
    """
    return list(await operations.list_deployments())


@post(
    "/deployments/{name:str}/scale",
    dto=StrictJSON[ScaleIn],
    return_dto=None,
    status_code=HTTPStatus.ACCEPTED,
    opt=requires(Scope.ADMIN),
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
    summary="Scale a deployment",
)
async def scale_deployment(
    name: Annotated[str, PathParameter(min_length=1, max_length=64)],
    data: JSONBody[ScaleIn],
    operations: OperationsDep,
    principal: PrincipalDep,
) -> ScaleAccepted:
    """Run the deployment with ``replicas`` replicas, from 1 to the engine's configured maximum.

    Answers 202 with the new target as soon as Serve has accepted it; Serve applies it in its
    control loop (the deployment's ``target`` changes within seconds), then replicas start or
    drain while the others keep serving (no request is dropped). Follow the change with
    ``GET /v1/admin/deployments``.
    """
    structlog.contextvars.bind_contextvars(deployment=name)
    if data.replicas > operations.max_replicas:
        raise InvalidInputError(
            INVALID_BODY,
            [Problem("$.replicas", f"must be at most {operations.max_replicas}")],
        )
    accepted = await operations.scale(name, data.replicas)
    _log.info("deployment_scale_requested", replicas=accepted.target, by=principal.subject)
    return accepted


@get("/rules", opt=requires(Scope.ADMIN), responses=_READ_ERRORS, summary="Rule-set versions")
async def rule_versions(operations: OperationsDep) -> RuleVersions:
    """The rule-set version each ``rules`` replica scores with, by replica id.

    ``active`` is the version they all report, or ``null`` while they differ (an edit that is
    still being picked up, or one that some replicas rejected).
    """
    return await operations.rule_versions()


def admin_router() -> Router:
    """The ``/admin`` routes (mounted under ``/v1``)."""
    return Router(
        path="/admin",
        route_handlers=[list_deployments, scale_deployment, rule_versions, *MODEL_ROUTES],
        tags=["admin"],
    )
