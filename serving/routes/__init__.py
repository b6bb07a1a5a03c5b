"""Route handlers, one module per resource; each handler parses, delegates and presents."""

from __future__ import annotations

from http import HTTPStatus

from litestar.openapi.datastructures import ResponseSpec

from serving.errors import PROBLEM_MEDIA_TYPE, ProblemDetails

_DESCRIPTIONS = {
    HTTPStatus.BAD_REQUEST: "The request is invalid; `errors` names each field (`$.amount`).",
    HTTPStatus.UNAUTHORIZED: "The API key is missing, unknown or revoked.",
    HTTPStatus.FORBIDDEN: "The API key lacks the scope this route needs.",
    HTTPStatus.NOT_FOUND: "No such record.",
    HTTPStatus.CONFLICT: "The transaction_id was used before with a different payload.",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The request body is larger than the limit.",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "The body is not sent as application/json.",
    HTTPStatus.TOO_MANY_REQUESTS: (
        "The API key used up its request limit; retry after `Retry-After` seconds."
    ),
    HTTPStatus.SERVICE_UNAVAILABLE: "A service Vigil depends on is unavailable; retry later.",
}


def problem_responses(*statuses: HTTPStatus) -> dict[int, ResponseSpec]:
    """OpenAPI entries documenting ``statuses`` as problem-details responses.

    A route documenting 401 sits behind the API-key guard, which also enforces the per-key rate
    limit, so 429 is documented with it.
    """
    if HTTPStatus.UNAUTHORIZED in statuses:
        statuses = (*statuses, HTTPStatus.TOO_MANY_REQUESTS)
    return {
        int(status): ResponseSpec(
            data_container=ProblemDetails,
            description=_DESCRIPTIONS.get(status, status.phrase),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }
