"""``/v1/labels``: record known outcomes (chargebacks, disputes, ...) in bulk."""

from __future__ import annotations

from http import HTTPStatus

import structlog
from litestar import Router, post
from litestar.params import JSONBody

from core.labels import LabelBatchResult
from serving.auth import Scope, requires
from serving.body import LabelBatchBody
from serving.deps import ClockDep, LabelPublisherDep, LabelRecordsDep, PrincipalDep, SettingsDep
from serving.labels import admit_labels, batch_result, publish_labels, publishable
from serving.routes import problem_responses
from serving.wire import LabelBatchIn

_log = structlog.get_logger("vigil.serving")


@post(
    "/",
    dto=LabelBatchBody,
    return_dto=None,
    status_code=HTTPStatus.OK,
    opt=requires(Scope.LABEL),
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
    summary="Record labels",
)
async def post_labels(
    *,
    data: JSONBody[LabelBatchIn],
    labels: LabelRecordsDep,
    label_publisher: LabelPublisherDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> LabelBatchResult:
    """Record known outcomes: each item says a transaction is `fraud` or `legit`, known from
    `known_at` (default: now), from a `source` (default: `api`).

    A malformed item rejects the batch with every item's problems (`$.items[3].label`). Otherwise
    each item is answered in order: `recorded`, `unchanged` (the same transaction, label,
    `known_at` and source was recorded before: resending a batch is safe),
    `unknown_transaction` (not stored, or not stored yet: decisions reach the database a moment
    after scoring) or `known_before_transaction` (`known_at` before the transaction happened).
    Every label event is kept; a transaction's `current` label is the one with the latest
    `known_at`. Labels are stored in PostgreSQL, then pushed to the online feature store;
    `online: false` says they were not pushed (`online_detail` says why), and they stay stored.
    """
    structlog.contextvars.bind_contextvars(batch_size=len(data.items))
    items = admit_labels(
        data,
        arrived_at=clock.now(),
        max_future_skew=settings.max_future_skew,
        max_items=settings.max_label_items,
    )
    outcomes = await labels.record(items, by=principal.subject)
    online, detail = await publish_labels(label_publisher, publishable(outcomes))
    result = batch_result(outcomes, online=online, online_detail=detail)
    _log.info(
        "labels_recorded",
        recorded=result.recorded,
        unchanged=result.unchanged,
        unknown_transaction=result.unknown_transaction,
        known_before_transaction=result.known_before_transaction,
        online=online,
    )
    return result


def labels_router() -> Router:
    """The ``/labels`` routes (mounted under ``/v1``)."""
    return Router(path="/labels", route_handlers=[post_labels], tags=["labels"])
