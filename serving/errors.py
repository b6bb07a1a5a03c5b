"""The one mapping from errors to HTTP: RFC 9457 problem details (``application/problem+json``).

Every exception that leaves a route handler, a guard or the body decoder ends here:

=================================  ======  =========================================
error                              status  ``type``
=================================  ======  =========================================
InvalidInputError                  400     ``urn:vigil:problem:invalid-input``
AuthError                          401     ``urn:vigil:problem:unauthenticated``
ForbiddenError                     403     ``urn:vigil:problem:forbidden``
NotFoundError                      404     ``urn:vigil:problem:not-found``
ConflictError                      409     ``urn:vigil:problem:conflict``
RateLimitedError                   429     ``urn:vigil:problem:rate-limited`` (with ``Retry-After``)
DependencyUnavailableError         503     ``urn:vigil:problem:dependency-unavailable``
Litestar's HTTPException (4xx)     its     ``about:blank`` (malformed parameters: invalid-input)
anything else                      500     ``urn:vigil:problem:internal`` (logged, never detailed)
=================================  ======  =========================================

Client mistakes are 4xx with a detail saying what is wrong; field-level problems go in ``errors``
as ``{"location": "$.items[3].currency", "message": ...}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from core.errors import (
    AuthError,
    ConflictError,
    DependencyUnavailableError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    Problem,
    RateLimitedError,
    VigilError,
)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_PREFIX: Final = "urn:vigil:problem:"

_log = structlog.get_logger("vigil.serving")


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with a request, and where (``$.amount``, ``query.limit``)."""

    location: str
    message: str


class ProblemDetails(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem: what kind of error, its HTTP status, and what went wrong."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = msgspec.field(default_factory=list)
    request_id: str | None = None


_VIGIL_ERRORS: Final[tuple[tuple[type[VigilError], HTTPStatus, str], ...]] = (
    # ForbiddenError subclasses AuthError, so it comes first; the first match wins.
    (InvalidInputError, HTTPStatus.BAD_REQUEST, "invalid-input"),
    (ForbiddenError, HTTPStatus.FORBIDDEN, "forbidden"),
    (AuthError, HTTPStatus.UNAUTHORIZED, "unauthenticated"),
    (NotFoundError, HTTPStatus.NOT_FOUND, "not-found"),
    (ConflictError, HTTPStatus.CONFLICT, "conflict"),
    (RateLimitedError, HTTPStatus.TOO_MANY_REQUESTS, "rate-limited"),
    (DependencyUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE, "dependency-unavailable"),
)
_UNAVAILABLE_DETAIL: Final = "a service Vigil depends on is unavailable; retry later"
_INTERNAL_DETAIL: Final = "an unexpected error occurred; it has been logged"


def problem_for(exc: Exception, *, instance: str | None = None) -> ProblemDetails:
    """The problem details that describe ``exc`` to a client (pure; no logging)."""
    if isinstance(exc, VigilError):
        for error_type, status, slug in _VIGIL_ERRORS:
            if isinstance(exc, error_type):
                return _vigil_problem(exc, status, slug, instance)
    if isinstance(exc, HTTPException) and exc.status_code < HTTPStatus.INTERNAL_SERVER_ERROR:
        return _http_problem(exc, instance)
    return ProblemDetails(
        type=f"{PROBLEM_TYPE_PREFIX}internal",
        title=HTTPStatus.INTERNAL_SERVER_ERROR.phrase,
        status=HTTPStatus.INTERNAL_SERVER_ERROR,
        detail=_INTERNAL_DETAIL,
        instance=instance,
    )


def _vigil_problem(
    exc: VigilError, status: HTTPStatus, slug: str, instance: str | None
) -> ProblemDetails:
    errors: list[FieldError] = []
    detail = str(exc)
    if isinstance(exc, InvalidInputError | ConflictError):
        detail = exc.summary
        errors = [field_error(p) for p in exc.problems]
    elif isinstance(exc, DependencyUnavailableError):
        detail = _UNAVAILABLE_DETAIL
    return ProblemDetails(
        type=f"{PROBLEM_TYPE_PREFIX}{slug}",
        title=status.phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )


def _http_problem(exc: HTTPException, instance: str | None) -> ProblemDetails:
    status = exc.status_code
    title = _phrase(status)
    if isinstance(exc, ValidationException):
        return ProblemDetails(
            type=f"{PROBLEM_TYPE_PREFIX}invalid-input",
            title=title,
            status=status,
            detail="the request is invalid",
            instance=instance,
            errors=_litestar_validation_errors(exc.extra),
        )
    return ProblemDetails(
        type="about:blank",
        title=title,
        status=status,
        detail=exc.detail or title,
        instance=instance,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status code outside the standard table
        return "Client Error"


def _litestar_validation_errors(extra: object) -> list[FieldError]:
    """Litestar's ``[{"key": ..., "source": ..., "message": ...}]`` as located field errors."""
    if not isinstance(extra, list):
        return []
    errors: list[FieldError] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        raw_source = item.get("source", "")
        source = str(getattr(raw_source, "value", raw_source))  # Litestar uses a ParamType enum
        key = str(item.get("key", ""))
        message = str(item.get("message", "is invalid"))
        if source == "body" or key == "data":
            location = "$"
            message = "a JSON request body is required" if key == "data" else message
        elif source and key:
            location = f"{source}.{key}"
        else:
            location = key or "$"
        errors.append(FieldError(location=location, message=message))
    return errors


def field_error(problem: Problem) -> FieldError:
    """A core :class:`Problem` as it travels on the wire."""
    return FieldError(location=problem.location or "$", message=problem.message)


def problem_response(
    problem: ProblemDetails, headers: dict[str, str] | None = None
) -> Response[bytes]:
    """``problem`` as an ``application/problem+json`` response."""
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar exception handler: log what the client must not see, answer with a problem."""
    problem = problem_for(exc, instance=request.url.path)
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if isinstance(request_id, str):
        problem = msgspec.structs.replace(problem, request_id=request_id)
    headers: dict[str, str] = {}
    if problem.status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, HTTPException) and exc.headers:
        headers.update(exc.headers)
    if problem.status == HTTPStatus.INTERNAL_SERVER_ERROR:
        _log.error("request_crashed", exc_info=exc)
    elif isinstance(exc, DependencyUnavailableError):
        _log.warning("dependency_unavailable", error=str(exc))
    return problem_response(problem, headers or None)


__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "FieldError",
    "ProblemDetails",
    "field_error",
    "handle_exception",
    "problem_for",
    "problem_response",
]
