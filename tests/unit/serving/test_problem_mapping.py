"""The one error → HTTP mapping: each error kind has its status, type and a safe detail."""

from __future__ import annotations

import pytest
from litestar.enums import ParamType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from core.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    DataImportError,
    DependencyUnavailableError,
    ForbiddenError,
    InvalidInputError,
    ModelArtifactError,
    NotFoundError,
    Problem,
)
from serving.errors import FieldError, problem_for


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (InvalidInputError("bad"), 400, "invalid-input"),
        (DataImportError("bad rows"), 400, "invalid-input"),
        (AuthError("who are you"), 401, "unauthenticated"),
        (ForbiddenError("not you"), 403, "forbidden"),
        (NotFoundError("nothing"), 404, "not-found"),
        (ConflictError("reused key"), 409, "conflict"),
        (DependencyUnavailableError("redis"), 503, "dependency-unavailable"),
    ],
)
def test_vigil_errors_map_to_their_status(error: Exception, status: int, slug: str) -> None:
    """Every kind of Vigil error has one HTTP status and one problem type."""
    problem = problem_for(error, instance="/v1/x")
    assert (problem.status, problem.type) == (status, f"urn:vigil:problem:{slug}")
    assert problem.instance == "/v1/x"


def test_invalid_input_lists_each_problem_with_its_location() -> None:
    """InvalidInputError's summary is the detail and each Problem becomes a located error."""
    error = InvalidInputError(
        "the body is invalid", [Problem("$.amount", "must be > 0"), Problem("", "broken")]
    )
    problem = problem_for(error)
    assert problem.detail == "the body is invalid"
    assert problem.errors == [
        FieldError(location="$.amount", message="must be > 0"),
        FieldError(location="$", message="broken"),
    ]


def test_client_errors_say_what_is_wrong() -> None:
    """4xx details carry the error's own message."""
    assert problem_for(ConflictError("t-1 was sent with another amount")).detail == (
        "t-1 was sent with another amount"
    )


def test_dependency_outage_does_not_reveal_the_dependency() -> None:
    """A 503 says to retry without echoing hosts or internals from the message."""
    problem = problem_for(DependencyUnavailableError("redis://10.0.0.7:6379 timed out"))
    assert "10.0.0.7" not in problem.detail
    assert "retry" in problem.detail


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("password=hunter2 at db.internal"),
        KeyError("secret"),
        ConfigError("rules dir /etc/vigil missing"),
        ModelArtifactError("artifact /models/x corrupt"),
        HTTPException(status_code=500, detail="internal detail"),
    ],
)
def test_unexpected_errors_are_500_without_internals(error: Exception) -> None:
    """Anything unexpected (including server-side config errors) is a bare 500."""
    problem = problem_for(error)
    assert problem.status == 500
    assert problem.type == "urn:vigil:problem:internal"
    assert str(error) not in problem.detail
    assert not problem.errors


def test_litestar_client_errors_keep_their_status() -> None:
    """Litestar's own 4xx (unknown route, too large, ...) keep their status as about:blank."""
    problem = problem_for(NotFoundException())
    assert (problem.status, problem.type, problem.title) == (404, "about:blank", "Not Found")


def test_litestar_parameter_errors_are_located() -> None:
    """Query and path parameter errors name the parameter as query.<name> / path.<name>."""
    error = ValidationException(
        extra=[
            {"message": "Expected `int`", "key": "limit", "source": ParamType.QUERY},
            {"message": "Expected `int`", "key": "alert_id", "source": ParamType.PATH},
            {"message": "Field required", "key": "data", "source": "body"},
        ]
    )
    problem = problem_for(error)
    assert problem.type == "urn:vigil:problem:invalid-input"
    assert [e.location for e in problem.errors] == ["query.limit", "path.alert_id", "$"]
    assert problem.errors[2].message == "a JSON request body is required"
