"""What route handlers receive by injection, and how ``create_app`` provides it.

Handlers name their collaborators by parameter (``scorer``, ``records``, ``clock``, ``settings``,
``principal``, ``rate_limiter`` (``None`` without a limit), ``labels`` (``None`` when the label
routes are not served), ``label_publisher`` (``None`` without an online store), and
``operations`` when the admin routes are served); the ``SkipValidation`` annotations below tell
Litestar not to validate these objects (they are protocols and services, not data).
"""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Request
from litestar.di import Provide
from litestar.params import SkipValidation

from core.clock import Clock
from engine.contracts import Scorer
from serving.auth import Principal, RateLimiter, principal_of
from serving.labels import LabelPublisher, LabelRecords
from serving.operations import Operations
from serving.readiness import ReadinessChecker
from serving.records import Records
from serving.settings import GatewaySettings

T = TypeVar("T")

ScorerDep = SkipValidation[Scorer]
RecordsDep = SkipValidation[Records]
ReadinessDep = SkipValidation[ReadinessChecker]
ClockDep = SkipValidation[Clock]
SettingsDep = SkipValidation[GatewaySettings]
PrincipalDep = SkipValidation[Principal]
OperationsDep = SkipValidation[Operations]
RateLimiterDep = SkipValidation[RateLimiter | None]
LabelRecordsDep = SkipValidation[LabelRecords]
"""For the ``/v1/labels`` routes, which are served only with a label store."""
OptionalLabelRecordsDep = SkipValidation[LabelRecords | None]
LabelPublisherDep = SkipValidation[LabelPublisher | None]


def constant(value: T) -> Provide:
    """A provider that always hands out ``value`` (the injected object itself, never a copy)."""

    async def provide() -> Any:
        return value

    return Provide(provide, use_cache=True)


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The principal the API-key guard authenticated."""
    return principal_of(request)


def dependencies(
    *,
    scorer: Scorer,
    records: Records,
    readiness: ReadinessChecker,
    clock: Clock,
    settings: GatewaySettings,
    operations: Operations | None = None,
    rate_limiter: RateLimiter | None = None,
    labels: LabelRecords | None = None,
    label_publisher: LabelPublisher | None = None,
) -> dict[str, Provide]:
    """The app-level dependency map (``operations`` only when given)."""
    provided = {
        "scorer": constant(scorer),
        "records": constant(records),
        "readiness": constant(readiness),
        "clock": constant(clock),
        "settings": constant(settings),
        "principal": Provide(provide_principal),
        "rate_limiter": constant(rate_limiter),
        "labels": constant(labels),
        "label_publisher": constant(label_publisher),
    }
    if operations is not None:
        provided["operations"] = constant(operations)
    return provided
