"""``/v1/alerts``: list alerts (filters, cursor pagination), label one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Final

import structlog
from litestar import Request, Router, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from core.alerts import AlertLabel, AlertStatus
from core.errors import InvalidInputError, Problem
from core.models import Outcome
from serving.auth import Scope, requires
from serving.body import StrictJSON
from serving.decoding import INVALID_BODY, nul_problems
from serving.deps import (
    LabelPublisherDep,
    OptionalLabelRecordsDep,
    PrincipalDep,
    RecordsDep,
    SettingsDep,
)
from serving.labels import LabelPublisher, LabelRecords, publish_labels
from serving.routes import problem_responses
from serving.wire import AlertList, LabelIn
from storage.repository import Alert, AlertCursor, AlertFilter

DEFAULT_PAGE_SIZE: Final = 50
ALERT_QUERY_PARAMETERS: Final = frozenset(
    {
        "outcome",
        "status",
        "label",
        "rule_id",
        "account_id",
        "min_score",
        "since",
        "until",
        "limit",
        "cursor",
    }
)
INVALID_QUERY: Final = "the query parameters are invalid"
MAX_ALERT_ID: Final = 2**63 - 1
"""Alert ids are PostgreSQL BIGINTs: a larger one is a 400, not an overflow in the driver."""

_log = structlog.get_logger("vigil.serving")


@dataclass(frozen=True, slots=True)
class AlertListing:
    """A checked listing request: which alerts, how many, after which one."""

    filters: AlertFilter
    limit: int
    after: AlertCursor | None


def alert_listing(
    filters: AlertFilter, *, limit: int | None, cursor: str | None, max_page_size: int
) -> AlertListing:
    """Check a listing request; :class:`InvalidInputError` naming each bad query parameter.

    Without a ``limit`` a page holds :data:`DEFAULT_PAGE_SIZE` alerts (or the maximum, if lower).
    """
    problems = [
        Problem(f"query.{name}", "must include a timezone (e.g. 2026-03-01T12:00:00Z)")
        for name, value in (("since", filters.since), ("until", filters.until))
        if value is not None and value.utcoffset() is None
    ]
    problems += nul_problems(
        {"query.rule_id": filters.rule_id, "query.account_id": filters.account_id}
    )
    if not problems and filters.since and filters.until and filters.since >= filters.until:
        problems.append(Problem("query.until", "must be after since"))
    if limit is not None and limit > max_page_size:
        problems.append(Problem("query.limit", f"must be at most {max_page_size}"))
    after = None
    if cursor is not None:
        try:
            after = AlertCursor.decode(cursor)
        except InvalidInputError:
            problems.append(Problem("query.cursor", "not a cursor returned by a listing"))
    if problems:
        raise InvalidInputError(INVALID_QUERY, problems)
    page_size = min(DEFAULT_PAGE_SIZE, max_page_size) if limit is None else limit
    return AlertListing(filters=filters, limit=page_size, after=after)


def reject_unknown_parameters(names: Iterable[str], known: frozenset[str]) -> None:
    """:class:`InvalidInputError` for query parameters the route does not know (likely typos)."""
    unknown = sorted(set(names) - known)
    if unknown:
        allowed = ", ".join(sorted(known))
        raise InvalidInputError(
            INVALID_QUERY,
            [Problem(f"query.{name}", f"unknown parameter; known: {allowed}") for name in unknown],
        )


@get(
    "/",
    opt=requires(Scope.READ),
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN
    ),
    summary="List alerts",
)
async def list_alerts(
    *,
    request: Request[Any, Any, Any],
    records: RecordsDep,
    settings: SettingsDep,
    outcome: FromQuery[Outcome | None] = None,
    status: FromQuery[AlertStatus | None] = None,
    label: FromQuery[AlertLabel | None] = None,
    rule_id: Annotated[str | None, QueryParameter(min_length=1, max_length=128)] = None,
    account_id: Annotated[str | None, QueryParameter(min_length=1, max_length=128)] = None,
    min_score: Annotated[float | None, QueryParameter(ge=0.0, le=1.0)] = None,
    since: Annotated[datetime | None, QueryParameter(description="created at or after")] = None,
    until: Annotated[datetime | None, QueryParameter(description="created before")] = None,
    limit: Annotated[int | None, QueryParameter(ge=1)] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the last page")
    ] = None,
) -> AlertList:
    """Alerts (``review`` / ``block`` decisions), newest first.

    Pass a page's ``next_cursor`` as ``cursor`` for the next page; it is ``null`` on the last one.
    Alerts arriving meanwhile never shift or repeat a page.
    """
    reject_unknown_parameters(request.query_params.keys(), ALERT_QUERY_PARAMETERS)
    filters = AlertFilter(
        outcome=outcome,
        status=status,
        label=label,
        rule_id=rule_id,
        account_id=account_id,
        min_score=min_score,
        since=since,
        until=until,
    )
    listing = alert_listing(
        filters, limit=limit, cursor=cursor, max_page_size=settings.max_page_size
    )
    page = await records.list_alerts(listing.filters, limit=listing.limit, after=listing.after)
    next_cursor = page.next_cursor.encode() if page.next_cursor is not None else None
    return AlertList(items=page.items, next_cursor=next_cursor)


@post(
    "/{alert_id:int}/label",
    dto=StrictJSON[LabelIn],
    return_dto=None,
    status_code=HTTPStatus.OK,
    opt=requires(Scope.LABEL),
    responses=problem_responses(
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    ),
    summary="Label an alert",
)
async def label_alert(
    *,
    alert_id: Annotated[int, PathParameter(ge=1, le=MAX_ALERT_ID)],
    data: JSONBody[LabelIn],
    records: RecordsDep,
    principal: PrincipalDep,
    labels: OptionalLabelRecordsDep,
    label_publisher: LabelPublisherDep,
) -> Alert:
    """Record an investigator's verdict (``fraud`` or ``legit``) with a note, and close the alert.

    Who labelled is recorded from the API key's subject; a new label replaces an earlier one. The
    verdict is also a label event (source ``analyst``, known now), pushed to the online feature
    store when one is configured.
    """
    structlog.contextvars.bind_contextvars(alert_id=alert_id)
    problems = nul_problems({"$.note": data.note})
    if problems:
        raise InvalidInputError(INVALID_BODY, problems)
    alert = await records.label_alert(alert_id, data.label, note=data.note, by=principal.subject)
    if labels is not None and label_publisher is not None:
        await publish_current(labels, label_publisher, alert.transaction_id)
    return alert


async def publish_current(
    labels: LabelRecords, publisher: LabelPublisher, transaction_id: str
) -> None:
    """Push ``transaction_id``'s current label to the online store; a failure is only logged
    (``labels_publish_failed``): the verdict is stored either way."""
    try:
        current = await labels.current([transaction_id])
    except Exception as exc:  # noqa: BLE001 - the verdict is stored; the push is best effort
        _log.warning("labels_publish_failed", labels=1, error=f"{type(exc).__name__}: {exc}")
        return
    await publish_labels(publisher, list(current.values()))


def alerts_router() -> Router:
    """The ``/alerts`` routes (mounted under ``/v1``)."""
    return Router(path="/alerts", route_handlers=[list_alerts, label_alert], tags=["alerts"])
