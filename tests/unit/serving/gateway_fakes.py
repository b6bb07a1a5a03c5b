"""In-process collaborators for the gateway tests: a deterministic scorer, an in-memory record
store and label store, a label publisher that remembers (or fails), a fixed readiness report,
in-memory engine operations and four API keys (score, read, label, admin)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from core.admin import (
    DeploymentInfo,
    ModelRef,
    ModelRegistryView,
    ModelSelection,
    ReplicaCounts,
    RuleVersions,
    ScaleAccepted,
)
from core.alerts import AlertLabel, AlertStatus
from core.clock import ManualClock
from core.errors import DependencyUnavailableError, InvalidInputError, NotFoundError, Problem
from core.labels import KnownLabel, LabelStatus
from core.models import (
    Channel,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    ReasonKind,
    Transaction,
)
from serving.auth import Principal, Scope
from serving.readiness import ComponentStatus
from storage.labels import LabelOutcome, NewLabel
from storage.repository import Alert, AlertCursor, AlertFilter, AlertPage, StoredDecision

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SCORE_KEY = "key-score-0123456789"
READ_KEY = "key-read-0123456789"
ADMIN_KEY = "key-admin-0123456789"
LABEL_KEY = "key-label-0123456789"
KEYS = {
    SCORE_KEY: Principal(key_id="k-score", subject="payments-api", scopes=frozenset({Scope.SCORE})),
    READ_KEY: Principal(key_id="k-read", subject="dashboard", scopes=frozenset({Scope.READ})),
    LABEL_KEY: Principal(key_id="k-label", subject="chargebacks", scopes=frozenset({Scope.LABEL})),
    ADMIN_KEY: Principal(key_id="k-admin", subject="alice", scopes=frozenset({Scope.ADMIN})),
}


def auth(key: str) -> dict[str, str]:
    """The Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def transaction_body(**overrides: Any) -> dict[str, Any]:
    """A valid wire transaction (no timestamp), with ``overrides`` applied."""
    body: dict[str, Any] = {
        "transaction_id": "t-1",
        "account_id": "acc-1",
        "amount": "42.50",
        "currency": "EUR",
        "merchant_id": "m-1",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "pos",
    }
    body.update(overrides)
    return body


def decide(txn: Transaction, decided_at: datetime) -> Decision:
    """A deterministic decision: block above 1000, review above 100, allow otherwise."""
    if txn.amount > 1000:
        outcome = Outcome.BLOCK
    elif txn.amount > 100:
        outcome = Outcome.REVIEW
    else:
        outcome = Outcome.ALLOW
    risk = float(min(txn.amount / Decimal(2000), Decimal(1)))
    return Decision(
        transaction_id=txn.transaction_id,
        outcome=outcome,
        risk_score=risk,
        model_scores=[ModelScore(name="xgboost", score=risk)],
        rule_results=[],
        reasons=[Reason(kind=ReasonKind.MODEL, code="amount", message="amount", weight=risk)],
        ruleset_version="rules-v1",
        model_version="model-v1",
        decided_at=decided_at,
    )


class FakeScorer:
    """Decides with :func:`decide`; remembers every batch; raises ``fail_with`` when set."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.batches: list[list[Transaction]] = []
        self.fail_with: Exception | None = None

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """One decision per transaction, in order."""
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(list(txns))
        return [decide(t, self.clock.now()) for t in txns]

    async def ready(self) -> Mapping[str, str]:
        """Fixed versions."""
        return {"ruleset_version": "rules-v1", "model_version": "model-v1"}


class FakeRecords:
    """An in-memory stand-in for storage.repository.Repository (same filters and paging)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.decisions: dict[str, StoredDecision] = {}
        self.alerts: dict[int, Alert] = {}
        self.listings: list[tuple[AlertFilter | None, int, AlertCursor | None]] = []

    def add(self, txn: Transaction, decision: Decision) -> None:
        """Store a decision (and an alert when it is review or block)."""
        alert = None
        if decision.outcome is not Outcome.ALLOW:
            alert = Alert(
                id=len(self.alerts) + 1,
                transaction_id=txn.transaction_id,
                account_id=txn.account_id,
                outcome=decision.outcome,
                risk_score=decision.risk_score,
                top_reason=decision.reasons[0].message if decision.reasons else None,
                rule_hits=(),
                status=AlertStatus.OPEN,
                label=None,
                note=None,
                labelled_by=None,
                labelled_at=None,
                created_at=decision.decided_at,
            )
            self.alerts[alert.id] = alert
        self.decisions[txn.transaction_id] = StoredDecision(
            transaction=txn, decision=decision, received_at=decision.decided_at, alert=alert
        )

    async def get_decision(self, transaction_id: str) -> StoredDecision:
        """The stored record; NotFoundError if there is none."""
        if transaction_id not in self.decisions:
            raise NotFoundError(f"no decision for transaction {transaction_id!r}")
        return self.decisions[transaction_id]

    async def list_alerts(
        self,
        filters: AlertFilter | None = None,
        *,
        limit: int = 50,
        after: AlertCursor | None = None,
    ) -> AlertPage:
        """Alerts matching ``filters`` (outcome, status, account, score), newest first."""
        self.listings.append((filters, limit, after))
        f = filters or AlertFilter()
        newest_first = sorted(
            self.alerts.values(), key=lambda a: (a.created_at, a.id), reverse=True
        )
        matching = [
            a
            for a in newest_first
            if (f.outcome is None or a.outcome == f.outcome)
            and (f.status is None or a.status == f.status)
            and (f.account_id is None or a.account_id == f.account_id)
            and (f.min_score is None or a.risk_score >= f.min_score)
            and (after is None or (a.created_at, a.id) < (after.created_at, after.id))
        ]
        items = matching[:limit]
        more = len(matching) > limit
        cursor = AlertCursor(items[-1].created_at, items[-1].id) if more and items else None
        return AlertPage(items=items, next_cursor=cursor)

    async def label_alert(
        self, alert_id: int, label: AlertLabel, *, note: str | None, by: str, close: bool = True
    ) -> Alert:
        """Label (and close) the alert; NotFoundError if it does not exist."""
        if alert_id not in self.alerts:
            raise NotFoundError(f"no alert with id {alert_id}")
        labelled = dataclasses.replace(
            self.alerts[alert_id],
            label=label,
            note=note,
            labelled_by=by,
            labelled_at=self.clock.now(),
            status=AlertStatus.CLOSED if close else self.alerts[alert_id].status,
        )
        self.alerts[alert_id] = labelled
        return labelled


class FakeLabels:
    """An in-memory label store over ``records``' transactions (latest known_at wins)."""

    def __init__(self, records: FakeRecords) -> None:
        self.records = records
        self.events: list[tuple[NewLabel, str]] = []
        """Every stored label event and who recorded it, in order."""

    async def record(self, items: Sequence[NewLabel], *, by: str) -> list[LabelOutcome]:
        """Store each item whose transaction is known, once per identical event."""
        outcomes = []
        for item in items:
            stored = self.records.decisions.get(item.transaction_id)
            if stored is None:
                outcomes.append(LabelOutcome(item, LabelStatus.UNKNOWN_TRANSACTION))
                continue
            seen = {event.key() for event, _ in self.events}
            status = LabelStatus.UNCHANGED if item.key() in seen else LabelStatus.RECORDED
            if status is LabelStatus.RECORDED:
                self.events.append((item, by))
            known = known_label(item, stored.transaction)
            outcomes.append(LabelOutcome(item, status, known=known))
        current = await self.current(item.transaction_id for item in items)
        return [
            dataclasses.replace(o, current=current[o.item.transaction_id].label)
            if o.item.transaction_id in current
            else o
            for o in outcomes
        ]

    async def current(self, transaction_ids: Iterable[str]) -> dict[str, KnownLabel]:
        """The latest known label of each transaction that has one."""
        wanted = set(transaction_ids)
        latest: dict[str, NewLabel] = {}
        for event, _ in self.events:
            before = latest.get(event.transaction_id)
            if event.transaction_id in wanted and (
                before is None or event.known_at >= before.known_at
            ):
                latest[event.transaction_id] = event
        return {
            tid: known_label(item, self.records.decisions[tid].transaction)
            for tid, item in latest.items()
        }


def known_label(item: NewLabel, txn: Transaction) -> KnownLabel:
    """``item`` with ``txn``'s entities."""
    return KnownLabel(
        transaction_id=item.transaction_id,
        label=item.label,
        known_at=item.known_at,
        source=item.source,
        account_id=txn.account_id,
        merchant_id=txn.merchant_id,
        device_id=txn.device_id,
        ip_address=txn.ip_address,
        event_time=txn.timestamp,
    )


class FakePublisher:
    """Remembers every published batch; raises ``fail_with`` when set."""

    def __init__(self) -> None:
        self.published: list[list[KnownLabel]] = []
        self.fail_with: Exception | None = None

    async def publish(self, labels: Sequence[KnownLabel]) -> None:
        """Remember ``labels``, or fail."""
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(list(labels))


class FakeReadiness:
    """Reports whatever ``components`` holds."""

    def __init__(self) -> None:
        self.components = [
            ComponentStatus(name="redis", ready=True),
            ComponentStatus(name="postgresql", ready=True),
        ]

    async def check(self) -> list[ComponentStatus]:
        """The configured statuses."""
        return list(self.components)


def make_transaction(n: int, amount: str, *, account_id: str = "acc-1") -> Transaction:
    """A core transaction ``t-<n>`` at NOW - n minutes."""
    return Transaction(
        transaction_id=f"t-{n}",
        account_id=account_id,
        amount=Decimal(amount),
        currency="EUR",
        timestamp=NOW - timedelta(minutes=n),
        merchant_id="m-1",
        merchant_category="5411",
        country="FR",
        channel=Channel.ECOMMERCE,
    )


class FakeOperations:
    """Four deployments held in memory; ``scale`` records each call and sets the target."""

    def __init__(self, max_replicas: int = 3) -> None:
        self.max_replicas = max_replicas
        self.deployments = {
            name: DeploymentInfo(
                name=name,
                status="HEALTHY",
                replicas=ReplicaCounts(target=1, running=1),
                message="",
            )
            for name in ("gateway", "features", "rules", "ensemble")
        }
        self.versions = {"r1": "v1", "r2": "v1"}
        self.scaled: list[tuple[str, int]] = []
        self.unavailable = False
        self.registered = {"m1", "m2"}
        self.selection = ModelSelection()
        self.changes: list[tuple[str, str | None, str]] = []

    async def list_deployments(self) -> list[DeploymentInfo]:
        """Every deployment, in insertion order."""
        self._check()
        return list(self.deployments.values())

    async def scale(self, deployment: str, replicas: int) -> ScaleAccepted:
        """Set the target (running replicas follow later); NotFoundError if unknown."""
        self._check()
        if deployment not in self.deployments:
            raise NotFoundError(f"no deployment named {deployment!r}")
        current = self.deployments[deployment]
        self.deployments[deployment] = msgspec.structs.replace(
            current, replicas=ReplicaCounts(target=replicas, running=current.replicas.running)
        )
        self.scaled.append((deployment, replicas))
        return ScaleAccepted(name=deployment, target=replicas)

    async def rule_versions(self) -> RuleVersions:
        """``versions``, and the one they agree on."""
        self._check()
        distinct = set(self.versions.values())
        return RuleVersions(
            versions=dict(self.versions), active=distinct.pop() if len(distinct) == 1 else None
        )

    async def models(self) -> ModelRegistryView:
        """The registered versions (``registered``) and the selection."""
        self._check()
        return ModelRegistryView(models=[], selection=self.selection, history=[])

    async def promote_model(self, version: str, *, by: str) -> ModelSelection:
        """Champion := ``version`` (NotFoundError unless in ``registered``)."""
        self._check()
        self.selection = msgspec.structs.replace(self.selection, champion=self._ref(version))
        self.changes.append(("promote", version, by))
        return self.selection

    async def rollback_model(self, *, by: str) -> ModelSelection:
        """Always 'nothing to roll back'."""
        self._check()
        raise InvalidInputError("nothing to roll back", [Problem("champion", "none")])

    async def set_challenger(self, version: str | None, *, by: str) -> ModelSelection:
        """Challenger := ``version``."""
        self._check()
        ref = None if version is None else self._ref(version)
        self.selection = msgspec.structs.replace(self.selection, challenger=ref)
        self.changes.append(("challenger", version, by))
        return self.selection

    async def apply_models(self) -> ModelSelection:
        """The selection as is."""
        self._check()
        return self.selection

    def _ref(self, version: str) -> ModelRef:
        if version not in self.registered:
            raise NotFoundError(f"no registered model {version!r}")
        return ModelRef(version=version, artifact_dir=f"/models/{version}", checksum="0" * 64)

    def _check(self) -> None:
        if self.unavailable:
            raise DependencyUnavailableError("the Serve controller cannot answer")
