"""Readiness: may this gateway take traffic? One status per component it depends on.

``GET /ready`` asks an injected :class:`ReadinessChecker`. :class:`ProbeReadiness` is the usual
one: named async probes (Redis ping, PostgreSQL ``SELECT 1``, each deployment, the loaded rule set
and model), run concurrently, each bounded by a timeout; a probe that raises or times out marks
its component not ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol

import msgspec
import structlog

from core.errors import VigilError

Probe = Callable[[], Awaitable[str | None]]
"""Checks one component; returns an optional detail (a version, a latency) or raises."""

_MAX_DETAIL: Final = 200
_log = structlog.get_logger("vigil.serving")


class ComponentStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Whether one dependency is ready, with a short detail."""

    name: str
    ready: bool
    detail: str | None = None


class ReadinessReport(msgspec.Struct, frozen=True, kw_only=True):
    """Every component's status; ready only when there is at least one and all are ready."""

    ready: bool
    components: list[ComponentStatus]

    @classmethod
    def of(cls, components: list[ComponentStatus]) -> ReadinessReport:
        """The report over ``components``."""
        return cls(
            ready=bool(components) and all(c.ready for c in components), components=components
        )


class ReadinessChecker(Protocol):
    """Reports the status of each component the gateway needs; never raises."""

    async def check(self) -> list[ComponentStatus]:
        """One status per component."""
        ...


class ProbeReadiness:
    """Readiness from named probes run concurrently, each within ``timeout_s`` seconds."""

    def __init__(self, probes: Mapping[str, Probe], *, timeout_s: float = 2.0) -> None:
        self._probes = dict(probes)
        self._timeout_s = timeout_s

    async def check(self) -> list[ComponentStatus]:
        """Run every probe; a failure or a timeout marks that component not ready."""
        return list(
            await asyncio.gather(*(self._run(name, probe) for name, probe in self._probes.items()))
        )

    async def _run(self, name: str, probe: Probe) -> ComponentStatus:
        try:
            async with asyncio.timeout(self._timeout_s):
                detail = await probe()
        except TimeoutError:
            return ComponentStatus(
                name=name, ready=False, detail=f"no answer within {self._timeout_s:g} s"
            )
        except Exception as exc:  # noqa: BLE001 - any probe failure means "not ready"; it is logged
            _log.warning("readiness_probe_failed", component=name, error=repr(exc))
            # Our own errors say what is wrong; foreign ones may carry internals: name only.
            message = str(exc) if isinstance(exc, VigilError) else type(exc).__name__
            return ComponentStatus(name=name, ready=False, detail=message[:_MAX_DETAIL])
        return ComponentStatus(
            name=name, ready=True, detail=detail[:_MAX_DETAIL] if detail else None
        )
