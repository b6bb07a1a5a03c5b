"""``/v1/transactions``: score one transaction or a batch, read a stored decision."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

import structlog
from litestar import Router, get, post
from litestar.params import JSONBody, PathParameter

from core.errors import InvalidInputError
from core.models import Decision
from serving.auth import Scope, requires
from serving.body import BatchBody, TransactionBody
from serving.decoding import nul_problems
from serving.deps import (
    ClockDep,
    PrincipalDep,
    RateLimiterDep,
    RecordsDep,
    ScorerDep,
    SettingsDep,
)
from serving.intake import admit, admit_batch
from serving.routes import problem_responses
from serving.wire import BatchDecisions, TransactionBatch, TransactionIn
from storage.repository import StoredDecision

_SCORING_ERRORS = problem_responses(
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.CONFLICT,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    HTTPStatus.SERVICE_UNAVAILABLE,
)


@post(
    "/",
    dto=TransactionBody,
    return_dto=None,
    status_code=HTTPStatus.OK,
    opt=requires(Scope.SCORE),
    responses=_SCORING_ERRORS,
    summary="Score one transaction",
)
async def score_transaction(
    data: JSONBody[TransactionIn], scorer: ScorerDep, clock: ClockDep, settings: SettingsDep
) -> Decision:
    """Decide on one transaction: allow, review or block, with the risk score and its reasons.

    ``timestamp`` may be omitted (the gateway's clock at arrival is used). Retrying with the same
    ``transaction_id`` and payload is safe.
    """
    structlog.contextvars.bind_contextvars(
        transaction_id=data.transaction_id, account_id=data.account_id
    )
    transaction = admit(
        data, arrived_at=clock.now(), max_future_skew=settings.max_future_skew, fx=settings.fx
    )
    [decision] = await scorer.score([transaction])
    return decision


@post(
    "/batch",
    dto=BatchBody,
    return_dto=None,
    status_code=HTTPStatus.OK,
    opt=requires(Scope.SCORE),
    responses=_SCORING_ERRORS,
    summary="Score a batch of transactions",
)
async def score_batch(
    *,
    data: JSONBody[TransactionBatch],
    scorer: ScorerDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    rate_limiter: RateLimiterDep,
) -> BatchDecisions:
    """Decide on several transactions at once; ``decisions[i]`` answers ``items[i]``.

    The batch is validated as a whole: any bad item rejects it with every item's problems listed
    (``$.items[3].currency``), so nothing is half-scored. Against the API key's rate limit a batch
    counts one request per transaction: a batch that does not fit in what is left of the limit is
    429 as a whole, and uses none of it.
    """
    structlog.contextvars.bind_contextvars(batch_size=len(data.items))
    transactions = admit_batch(
        data,
        arrived_at=clock.now(),
        max_future_skew=settings.max_future_skew,
        max_items=settings.max_batch_items,
        fx=settings.fx,
    )
    if rate_limiter is not None:  # the guard counted the request as one
        await rate_limiter.hit(principal.key_id, len(transactions), counted=1)
    return BatchDecisions(decisions=await scorer.score(transactions))


@get(
    "/{transaction_id:str}",
    opt=requires(Scope.READ),
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND
    ),
    summary="Read a stored decision",
)
async def get_transaction(
    transaction_id: Annotated[str, PathParameter(min_length=1, max_length=128)],
    records: RecordsDep,
) -> StoredDecision:
    """The stored transaction and its decision (every reason and rule result), and its alert.

    Decisions reach the store asynchronously (through the decision stream), so a transaction
    scored a moment ago may briefly be 404.
    """
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    problems = nul_problems({"path.transaction_id": transaction_id})
    if problems:
        raise InvalidInputError("the transaction id is invalid", problems)
    return await records.get_decision(transaction_id)


def transactions_router() -> Router:
    """The ``/transactions`` routes (mounted under ``/v1``)."""
    return Router(
        path="/transactions",
        route_handlers=[score_transaction, score_batch, get_transaction],
        tags=["transactions"],
    )
