"""``/v1/admin/models``: the model registry, promotion, rollback and the shadow challenger.

Every route needs the ``admin`` scope. Changes are recorded in the registry (PostgreSQL) and
applied to the ensemble replicas in place by the injected :class:`~serving.operations.Operations`:
a model is loaded and checked before anything changes, and requests keep being answered while the
replicas swap models. Registering an artifact is ``vigil models register`` (it reads the files).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

import structlog
from litestar import get, post, put
from litestar.params import JSONBody, PathParameter

from core.admin import ModelRegistryView, ModelSelection
from serving.auth import Scope, requires
from serving.body import StrictJSON
from serving.deps import OperationsDep, PrincipalDep
from serving.routes import problem_responses
from serving.wire import ChallengerIn

_log = structlog.get_logger("vigil.serving")
_CHANGE_ERRORS = problem_responses(
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.CONFLICT,
    HTTPStatus.SERVICE_UNAVAILABLE,
)
VersionParameter = Annotated[str, PathParameter(min_length=1, max_length=128)]


@get(
    "/models",
    opt=requires(Scope.ADMIN),
    responses=problem_responses(
        HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.SERVICE_UNAVAILABLE
    ),
    summary="Model registry",
)
async def list_models(operations: OperationsDep) -> ModelRegistryView:
    """Every registered model version (newest first) with its metrics and training window, the
    live ``selection`` (``champion`` decides, ``challenger`` is scored in shadow; a null champion
    means the engine's configured ``model_dir``) and the latest registry changes."""
    return await operations.models()


@post(
    "/models/{version:str}/promote",
    opt=requires(Scope.ADMIN),
    status_code=HTTPStatus.OK,
    responses=_CHANGE_ERRORS,
    summary="Promote a model to champion",
)
async def promote_model(
    version: VersionParameter, operations: OperationsDep, principal: PrincipalDep
) -> ModelSelection:
    """Make ``version`` the champion and swap it in on every ensemble replica without a restart.

    404 for an unregistered version; 409 when its artifact no longer loads (changed on disk since
    it was registered, or built for other features): nothing changes then.
    """
    selection = await operations.promote_model(version, by=principal.subject)
    _log.info("model_promoted", version=version, by=principal.subject)
    return selection


@post(
    "/models/rollback",
    opt=requires(Scope.ADMIN),
    status_code=HTTPStatus.OK,
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.CONFLICT,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
    summary="Roll back to the previous champion",
)
async def rollback_model(operations: OperationsDep, principal: PrincipalDep) -> ModelSelection:
    """Give the champion role back to the model the current champion replaced (400 when there is
    none), and swap it in."""
    selection = await operations.rollback_model(by=principal.subject)
    _log.info(
        "model_rolled_back",
        version=None if selection.champion is None else selection.champion.version,
        by=principal.subject,
    )
    return selection


@put(
    "/models/challenger",
    dto=StrictJSON[ChallengerIn],
    return_dto=None,
    opt=requires(Scope.ADMIN),
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
    summary="Set or clear the shadow challenger",
)
async def set_challenger(
    data: JSONBody[ChallengerIn], operations: OperationsDep, principal: PrincipalDep
) -> ModelSelection:
    """Score ``version`` in shadow on every live transaction (its scores are stored, never acted
    on); ``{"version": null}`` stops."""
    selection = await operations.set_challenger(data.version, by=principal.subject)
    _log.info("model_challenger_set", version=data.version, by=principal.subject)
    return selection


@post(
    "/models/apply",
    opt=requires(Scope.ADMIN),
    status_code=HTTPStatus.OK,
    responses=_CHANGE_ERRORS,
    summary="Apply the registry's selection",
)
async def apply_models(operations: OperationsDep) -> ModelSelection:
    """Load the registry's champion and challenger on every ensemble replica (after a change
    recorded without a running engine, e.g. ``vigil models promote`` without ``--gateway``)."""
    return await operations.apply_models()


MODEL_ROUTES = [list_models, promote_model, rollback_model, set_challenger, apply_models]
