"""``/health`` (the process answers) and ``/ready`` (it can do its job); both unauthenticated."""

from __future__ import annotations

from http import HTTPStatus

import msgspec
import structlog
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from serving.deps import ReadinessDep
from serving.readiness import ReadinessReport

_log = structlog.get_logger("vigil.serving")


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """The process is alive and answering."""

    status: str = "ok"


@get("/health", tags=["operations"], summary="Liveness")
async def health() -> Health:
    """Always ``{"status": "ok"}`` while the process serves requests; checks nothing else."""
    return Health()


@get(
    "/ready",
    tags=["operations"],
    summary="Readiness",
    responses={
        HTTPStatus.SERVICE_UNAVAILABLE: ResponseSpec(
            data_container=ReadinessReport,
            description="Some component is not ready; each component's status says which.",
            generate_examples=False,
        )
    },
)
async def ready(readiness: ReadinessDep) -> Response[ReadinessReport]:
    """Whether Redis, PostgreSQL, each deployment, the rules and the model are ready (else 503)."""
    report = ReadinessReport.of(await readiness.check())
    if not report.ready:
        _log.warning(
            "readiness_failed",
            not_ready=[c.name for c in report.components if not c.ready] or ["<no components>"],
        )
    status = HTTPStatus.OK if report.ready else HTTPStatus.SERVICE_UNAVAILABLE
    return Response(report, status_code=status)
