"""Labels at the gateway: the store and the online-store publisher it is given, and the pure steps
between the wire and them.

``POST /v1/labels`` (:mod:`serving.routes.labels`) records a batch in PostgreSQL through
:class:`LabelRecords` (:class:`storage.labels.LabelStore` satisfies it), then hands every label
that names a stored transaction to the injected :class:`LabelPublisher`, which tells the online
feature store (the runtime wires the real one; the gateway knows no Redis key). PostgreSQL comes
first and is the record: when no publisher is configured, or publishing fails or takes longer than
:data:`PUBLISH_TIMEOUT_S`, the labels stay stored, the answer says ``online: false`` with the
reason, and ``labels_publish_failed`` is logged. Sending the same batch again is safe: its items
are ``unchanged`` and are published again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol

import structlog

from core.errors import InvalidInputError, Problem
from core.labels import KnownLabel, LabelBatchResult, LabelItemResult, LabelSource, LabelStatus
from serving.wire import LabelBatchIn
from storage.labels import LabelOutcome, NewLabel

PUBLISH_TIMEOUT_S: Final = 5.0
"""How long the gateway waits for the online store before answering ``online: false``."""
LABELS_REJECTED: Final = "the labels were rejected"
NOT_CONFIGURED: Final = "no online store is configured: the labels are stored in PostgreSQL only"
_PUBLISHED_STATUSES: Final = frozenset({LabelStatus.RECORDED, LabelStatus.UNCHANGED})

_log = structlog.get_logger("vigil.serving")


class LabelPublisher(Protocol):
    """Tells the online feature store about known labels.

    ``labels`` may repeat labels published before (a client resending a batch after a failed
    push): publishing the same label event again must change nothing. A transaction's current
    label is its label with the greatest ``known_at`` (ties: the later one in ``labels``).
    """

    async def publish(self, labels: Sequence[KnownLabel]) -> None:
        """Make ``labels`` known to the online store; raise if that did not happen."""
        ...


class LabelRecords(Protocol):
    """Label events in PostgreSQL (:class:`storage.labels.LabelStore`)."""

    async def record(self, items: Sequence[NewLabel], *, by: str) -> list[LabelOutcome]:
        """Record ``items``, recorded by ``by``; one outcome per item, in order."""
        ...

    async def current(self, transaction_ids: Iterable[str]) -> dict[str, KnownLabel]:
        """The current label of each of ``transaction_ids`` that has one."""
        ...


def admit_labels(
    batch: LabelBatchIn, *, arrived_at: datetime, max_future_skew: timedelta, max_items: int
) -> list[NewLabel]:
    """Every item of ``batch`` as a label to record; all problems reported at once.

    A missing ``known_at`` is ``arrived_at``, a missing ``source`` is ``api``; a ``known_at``
    further ahead of ``arrived_at`` than ``max_future_skew`` is refused.
    """
    if len(batch.items) > max_items:
        raise InvalidInputError(
            LABELS_REJECTED,
            [Problem("$.items", f"has {len(batch.items)} labels; at most {max_items}")],
        )
    problems = []
    for index, item in enumerate(batch.items):
        if item.known_at is not None and item.known_at - arrived_at > max_future_skew:
            ahead = (item.known_at - arrived_at).total_seconds()
            problems.append(
                Problem(
                    f"$.items[{index}].known_at",
                    f"is {ahead:.0f} s after the gateway's clock ({arrived_at.isoformat()}); "
                    f"at most {max_future_skew.total_seconds():.0f} s ahead is accepted",
                )
            )
    if problems:
        raise InvalidInputError(LABELS_REJECTED, problems)
    return [
        NewLabel(
            transaction_id=item.transaction_id,
            label=item.label,
            known_at=item.known_at or arrived_at,
            source=item.source or LabelSource.API.value,
        )
        for item in batch.items
    ]


def publishable(outcomes: Iterable[LabelOutcome]) -> list[KnownLabel]:
    """The labels of ``outcomes`` the online store should know: stored now or before."""
    return [o.known for o in outcomes if o.status in _PUBLISHED_STATUSES and o.known is not None]


async def publish_labels(
    publisher: LabelPublisher | None, labels: Sequence[KnownLabel]
) -> tuple[bool, str | None]:
    """Publish ``labels``: whether they reached the online store, and why not when they did not.

    Never raises: a failure is logged (``labels_publish_failed``) and answered.
    """
    if publisher is None:
        return False, NOT_CONFIGURED
    if not labels:
        return True, None
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await publisher.publish(labels)
    except Exception as exc:  # noqa: BLE001 - any failure of the push leaves the stored labels
        _log.warning(
            "labels_publish_failed",
            labels=len(labels),
            error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        )
        return False, (
            "the labels are stored in PostgreSQL, but pushing them to the online store failed; "
            "send the same batch again to retry (stored labels come back unchanged)"
        )
    return True, None


def batch_result(
    outcomes: Sequence[LabelOutcome], *, online: bool, online_detail: str | None
) -> LabelBatchResult:
    """The wire answer for ``outcomes``: one result per item, and the counts."""
    items = [
        LabelItemResult(
            transaction_id=o.item.transaction_id,
            status=o.status,
            label=o.item.label,
            known_at=o.item.known_at,
            source=o.item.source,
            current=o.current,
            detail=o.detail,
        )
        for o in outcomes
    ]
    statuses = [o.status for o in outcomes]
    return LabelBatchResult(
        items=items,
        recorded=statuses.count(LabelStatus.RECORDED),
        unchanged=statuses.count(LabelStatus.UNCHANGED),
        unknown_transaction=statuses.count(LabelStatus.UNKNOWN_TRANSACTION),
        known_before_transaction=statuses.count(LabelStatus.KNOWN_BEFORE_TRANSACTION),
        online=online,
        online_detail=online_detail,
    )
