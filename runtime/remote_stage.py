"""The one caller-side Ray adapter: any engine stage behind a Serve deployment handle.

``RemoteStage(handle).compute(txns)`` is one ``handle.remote("compute", txns)`` call, answered by
:class:`runtime.deployments.StageReplica`, so a micro-batch costs one Ray hop per stage and the
gateway's :class:`engine.pipeline.ScoringPipeline` runs unchanged over local or remote stages.
Nothing implicit crosses the hop: context variables do not, so every id a stage needs travels
inside the transactions themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any


class RemoteStage:
    """Forwards each method call to the stage replica behind ``handle`` (one remote call)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(*args: Any) -> Any:
            return await self._handle.remote(method, *[_plain(arg) for arg in args])

        call.__name__ = method
        return call


def _plain(arg: Any) -> Any:
    """Batches cross as plain lists, whatever sequence the caller holds."""
    return list(arg) if isinstance(arg, Sequence) and not isinstance(arg, str | bytes) else arg
