"""One alert, explained: the transaction, features, rule results, model contributions, history.

Analysts label the alert ``fraud`` or ``legit`` (with a note), close or reopen it. Every action
re-checks the session and role, goes through :class:`storage.repository.Repository` (which
records who labelled), is written to the audit log, and is announced to the other open pages.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from sqlalchemy.exc import SQLAlchemyError

from client.gateway import GatewayUnavailable
from core.alerts import AlertLabel, AlertStatus
from core.errors import NotFoundError, RuleSetError, VigilError
from core.labels import LabelSource
from core.models import Decision, Outcome, RuleOutcome
from storage.repository import Alert, StoredDecision
from storage.users import Role, User
from ui import auth, charts
from ui.format import DASH, milliseconds, money, score, timestamp
from ui.layout import frame
from ui.rules_catalog import RuleInfo
from ui.services import UiServices
from ui.theme import LABEL_COLORS, OUTCOME_COLORS

RETRY_S: Final = 1.0
RETRIES: Final = 15
"""A just-pushed alert may not be stored yet: retry this often before giving up."""
RECENT_TRANSACTIONS: Final = 15
_RULE_ORDER: Final = {RuleOutcome.HIT: 0, RuleOutcome.ERROR: 1, RuleOutcome.NO_HIT: 2}


def register(services: UiServices) -> None:
    """Add ``/alerts/{transaction_id}``."""

    @ui.page("/alerts/{transaction_id}")
    async def alert_page(request: Request, transaction_id: str) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="alerts", title=f"Alert {transaction_id}") as main:
            view = AlertDetailView(services, user, transaction_id, main)
            await view.load()
        return None


class AlertDetailView:
    """The detail page of one transaction's alert."""

    def __init__(self, services: UiServices, user: User, transaction_id: str, main: Any) -> None:
        self.services = services
        self.user = user
        self.transaction_id = transaction_id
        self.main = main
        self.stored: StoredDecision | None = None
        self._tries = 0

    async def load(self) -> None:
        """Read the decision and draw the page (or wait for the writer to store it)."""
        try:
            self.stored = await self.services.repository.get_decision(self.transaction_id)
        except NotFoundError:
            self._waiting()
            return
        except (SQLAlchemyError, OSError) as exc:
            ui.label(f"Cannot read the decision from PostgreSQL: {exc}").classes("text-negative")
            return
        self.main.clear()
        with self.main:
            await self._draw()

    def _waiting(self) -> None:
        self._tries += 1
        self.main.clear()
        with self.main:
            _back_link()
            if self._tries > RETRIES:
                ui.label(f"No decision for transaction {self.transaction_id}.").classes(
                    "text-lg font-bold"
                ).mark("not-found")
                return
            with ui.row().classes("items-center gap-3"):
                ui.spinner(size="md")
                ui.label(
                    f"Transaction {self.transaction_id} is being stored; this page fills in "
                    "as soon as it is."
                ).mark("waiting-for-store")
            ui.timer(RETRY_S, self.load, once=True)

    async def _draw(self) -> None:
        stored = self.stored
        assert stored is not None  # noqa: S101 - load() sets it before drawing
        decision = stored.decision
        _back_link()
        self._header(stored)
        with ui.grid(columns="minmax(0, 3fr) minmax(0, 2fr)").classes("w-full gap-4"):
            with ui.column().classes("gap-4 min-w-0"):
                self._reasons(decision)
                self._rules(decision)
                self._models(decision)
                self._features(decision)
            with ui.column().classes("gap-4 min-w-0"):
                self.actions = ui.column().classes("w-full gap-4")
                self._draw_actions()
                self._transaction(stored)
                self._versions(decision)
                await self._timeline(stored)
                await self._audit(stored.alert)

    # ---- sections ------------------------------------------------------------------------

    def _header(self, stored: StoredDecision) -> None:
        decision = stored.decision
        txn = stored.transaction
        with ui.row().classes("w-full items-center gap-4"):
            color = "negative" if decision.outcome is Outcome.BLOCK else "warning"
            if decision.outcome is Outcome.ALLOW:
                color = "grey"
            ui.badge(decision.outcome.value.upper(), color=color).classes(
                "text-lg px-3 py-1 font-bold"
            ).mark("outcome")
            with ui.column().classes("gap-0"):
                ui.label(money(txn.amount, txn.currency)).classes("text-2xl font-bold")
                ui.label(
                    f"{txn.account_id} → {txn.merchant_id} · {txn.country} · {txn.channel.value}"
                ).classes("vigil-muted")
            ui.space()
            with ui.column().classes("items-end gap-0"):
                ui.label(f"risk {score(decision.risk_score)}").classes("text-2xl font-bold")
                ui.label(f"transaction {txn.transaction_id}").classes("vigil-mono vigil-muted")

    def _reasons(self, decision: Decision) -> None:
        with _card("Why"):
            if not decision.reasons:
                ui.label("No reasons recorded.").classes("vigil-muted")
            for rank, reason in enumerate(decision.reasons, start=1):
                with ui.row().classes("items-center gap-3 no-wrap"):
                    ui.label(str(rank)).classes("vigil-muted w-4")
                    ui.chip(reason.kind.value, color="primary").props("dense outline square")
                    ui.label(reason.message)
                    ui.space()
                    ui.label(f"{reason.weight:.2f}").classes("vigil-mono vigil-muted")

    def _rules(self, decision: Decision) -> None:
        descriptions = self._rule_catalog()
        results = sorted(decision.rule_results, key=lambda r: (_RULE_ORDER[r.outcome], r.rule_id))
        hits = sum(r.outcome is RuleOutcome.HIT for r in results)
        errors = sum(r.outcome is RuleOutcome.ERROR for r in results)
        rows = []
        for result in results:
            info = descriptions.get(result.rule_id)
            rows.append(
                {
                    "rule": result.rule_id,
                    "outcome": result.outcome.value,
                    "action": result.action.value,
                    "score": f"{result.score:.2f}",
                    "description": info.description if info else "(not in the active rule set)",
                    "error": result.error or "",
                }
            )
        title = f"Rules · {hits} hit · {errors} error · {len(results) - hits - errors} no hit"
        with _card(title):
            table = (
                ui.table(
                    columns=[
                        {"name": "rule", "label": "Rule", "field": "rule", "align": "left"},
                        {"name": "outcome", "label": "Result", "field": "outcome", "align": "left"},
                        {"name": "action", "label": "Action", "field": "action", "align": "left"},
                        {"name": "score", "label": "Score", "field": "score"},
                        {
                            "name": "description",
                            "label": "Description",
                            "field": "description",
                            "align": "left",
                            "style": "white-space: normal; min-width: 14rem",
                        },
                    ],
                    rows=rows,
                    row_key="rule",
                    pagination={"rowsPerPage": 10},
                )
                .props("flat dense")
                .classes("vigil-table w-full")
                .mark("rule-results")
            )
            table.add_slot(
                "body-cell-outcome",
                r"""<q-td :props="props">
                  <q-chip dense square text-color="white" :label="props.value.replace('_', ' ')"
                    :color="props.value === 'hit' ? 'negative'
                      : (props.value === 'error' ? 'deep-orange' : 'grey-6')" />
                  <div v-if="props.row.error" class="text-negative text-caption">
                    {{ props.row.error }}
                  </div>
                </q-td>""",
            )

    def _models(self, decision: Decision) -> None:
        with _card("Models"):
            if not decision.model_scores:
                ui.label("No model scores (the model stage failed or was skipped).")
            with ui.row().classes("w-full gap-6 items-start"):
                for model in decision.model_scores:
                    with ui.column().classes("gap-1 min-w-[16rem] flex-1"):
                        with ui.row().classes("items-baseline gap-2"):
                            ui.label(model.name).classes("font-bold")
                            ui.label(score(model.score)).classes("vigil-mono text-lg")
                        if model.contributions:
                            named = [(c.feature, c.contribution) for c in model.contributions]
                            height = 40 + 26 * len(named)
                            ui.echart(charts.contributions(named)).classes("w-full").style(
                                f"height: {height}px"
                            ).mark(f"contributions-{model.name}")
                        else:
                            ui.label("No feature contributions.").classes("vigil-muted text-sm")

    def _features(self, decision: Decision) -> None:
        rows = [
            {"feature": name, "value": DASH if value is None else f"{value:,.4g}"}
            for name, value in sorted(decision.features.items())
        ]
        with _card(f"Features at decision time · {len(rows)}"):
            table = (
                ui.table(
                    columns=[
                        {
                            "name": "feature",
                            "label": "Feature",
                            "field": "feature",
                            "align": "left",
                            "sortable": True,
                        },
                        {"name": "value", "label": "Value", "field": "value", "align": "right"},
                    ],
                    rows=rows,
                    row_key="feature",
                    pagination={"rowsPerPage": 12},
                )
                .props("flat dense")
                .classes("vigil-table w-full")
                .mark("features")
            )
            with table.add_slot("top-right"):
                ui.input(placeholder="Filter features").props("dense clearable").bind_value(
                    table, "filter"
                )

    def _transaction(self, stored: StoredDecision) -> None:
        txn = stored.transaction
        facts = [
            ("Amount", money(txn.amount, txn.currency)),
            ("Event time (UTC)", timestamp(txn.timestamp)),
            ("Received", timestamp(stored.received_at)),
            ("Account", txn.account_id),
            ("Merchant", f"{txn.merchant_id} (MCC {txn.merchant_category})"),
            ("Country", txn.country),
            ("Channel", txn.channel.value),
            ("Device", txn.device_id or DASH),
            ("IP address", txn.ip_address or DASH),
        ]
        facts += [(f"attributes.{k}", str(v)) for k, v in sorted(txn.attributes.items())]
        with _card("Transaction"):
            _facts(facts)

    def _versions(self, decision: Decision) -> None:
        latency = ", ".join(
            f"{stage} {milliseconds(ms)}" for stage, ms in sorted(decision.latency_ms.items())
        )
        with _card("Decision"):
            _facts(
                [
                    ("Decided (UTC)", timestamp(decision.decided_at)),
                    ("Rule-set version", decision.ruleset_version),
                    ("Model version", decision.model_version),
                    ("Degraded", "yes" if decision.degraded else "no"),
                    ("Latency", latency or DASH),
                ]
            )

    async def _timeline(self, stored: StoredDecision) -> None:
        account = stored.transaction.account_id
        try:
            recent = await self.services.repository.recent_transactions(
                account, limit=RECENT_TRANSACTIONS
            )
        except (SQLAlchemyError, OSError) as exc:
            recent = []
            ui.notify(f"Cannot read the account's history: {exc}", type="warning")
        title = f"Account {account} · last {len(recent)} transactions"
        with _card(title), ui.column().classes("vigil-history w-full gap-0").mark("timeline"):
            for item in recent:
                txn, decision = item.transaction, item.decision
                current = txn.transaction_id == self.transaction_id
                row = ui.link(target=f"/alerts/{txn.transaction_id}")
                row.classes("vigil-history-row w-full" + (" current" if current else ""))
                with row.mark("history-current" if current else "history-row"):
                    ui.element("span").classes("vigil-dot").style(
                        f"background: {_outcome_color(decision.outcome)}"
                    )
                    ui.label(timestamp(txn.timestamp)).classes("vigil-mono text-xs vigil-muted")
                    ui.label(money(txn.amount, txn.currency)).classes("font-bold")
                    ui.label(decision.outcome.value).classes(
                        f"vigil-outcome-text vigil-outcome-{decision.outcome.value}"
                    )
                    ui.label(f"{txn.merchant_id} · {txn.country} · {txn.channel.value}").classes(
                        "text-sm vigil-muted"
                    )

    async def _audit(self, alert: Alert | None) -> None:
        if alert is None:
            return
        entries = await self.services.users.audit_log(target=f"alert:{alert.id}", limit=20)
        with _card("Activity"):
            if not entries:
                ui.label("No actions yet.").classes("vigil-muted")
            for entry in entries:
                detail = ", ".join(f"{k}: {v}" for k, v in entry.details.items() if v)
                with ui.row().classes("gap-2 text-sm no-wrap"):
                    ui.label(timestamp(entry.at)).classes("vigil-mono vigil-muted")
                    ui.label(f"{entry.actor} {entry.action.replace('_', ' ')}")
                    if detail:
                        ui.label(detail).classes("vigil-muted")

    # ---- actions -------------------------------------------------------------------------

    def _draw_actions(self) -> None:
        assert self.stored is not None  # noqa: S101
        alert = self.stored.alert
        self.actions.clear()
        with self.actions, _card("Investigation"):
            if alert is None:
                ui.label("This decision was allowed: there is no alert to investigate.")
                return
            with ui.row().classes("items-center gap-2"):
                ui.chip(
                    alert.status.value,
                    color="primary" if alert.status is AlertStatus.OPEN else "grey",
                ).props("square").mark("alert-status")
                if alert.label is not None:
                    ui.chip(alert.label.value, color=LABEL_COLORS[alert.label.value]).props(
                        "square text-color=white"
                    ).mark("alert-label")
                    ui.label(f"by {alert.labelled_by} · {timestamp(alert.labelled_at)}").classes(
                        "text-sm vigil-muted"
                    )
            if alert.note:
                ui.label(f"“{alert.note}”").classes("italic")
            self.label_choice = (
                ui.toggle(
                    {"fraud": "Fraud", "legit": "Legit"},
                    value=alert.label.value if alert.label else None,
                )
                .props("spread no-caps toggle-color=primary")
                .classes("w-full")
                .mark("label-choice")
            )
            self.note = ui.textarea("Note", value=alert.note or "").props("outlined autogrow")
            self.note.classes("w-full").mark("label-note")
            with ui.row().classes("w-full gap-2"):
                ui.button("Save label", icon="gavel", on_click=self.save_label).props(
                    "unelevated color=primary"
                ).mark("save-label")
                ui.space()
                if alert.status is AlertStatus.OPEN:
                    ui.button("Close", icon="task_alt", on_click=self.close).props("outline").mark(
                        "close-alert"
                    )
                else:
                    ui.button("Reopen", icon="restart_alt", on_click=self.reopen).props(
                        "outline"
                    ).mark("reopen-alert")

    async def save_label(self) -> None:
        """Label the alert with the chosen verdict and note (closing it)."""
        user = await auth.acting_user(self.services.users, Role.ANALYST)
        alert = self.stored.alert if self.stored else None
        if user is None or alert is None:
            return
        if self.label_choice.value not in {"fraud", "legit"}:
            ui.notify("Choose Fraud or Legit first.", type="warning")
            return
        label = AlertLabel(self.label_choice.value)
        note = (self.note.value or "").strip() or None
        try:
            updated = await self.services.repository.label_alert(
                alert.id, label, note=note, by=user.username
            )
        except VigilError as exc:
            ui.notify(str(exc), type="negative")
            return
        await self.services.users.record(
            user.username,
            "alert_labelled",
            f"alert:{alert.id}",
            {"transaction_id": alert.transaction_id, "label": label.value, "note": note},
        )
        await self._changed(updated, f"Labelled {label.value}.")
        await self._count_online(updated, label)

    async def _count_online(self, alert: Alert, label: AlertLabel) -> None:
        """Tell the live features about the verdict: the gateway's label route records the
        same event again (``unchanged``) and pushes it to the online store, so the merchant's
        next transaction counts it. The verdict is saved either way."""
        if alert.labelled_at is None:
            return
        item = {
            "transaction_id": alert.transaction_id,
            "label": label.value,
            "known_at": alert.labelled_at.isoformat(),
            "source": LabelSource.ANALYST.value,
        }
        try:
            result = await self.services.gateway.send_labels([item])
        except GatewayUnavailable as exc:
            ui.notify(
                f"Saved; live features were not told (engine unreachable): {exc}", type="warning"
            )
            return
        if not result.online:
            ui.notify(
                f"Saved; live features were not told: {result.online_detail or 'no online store'}",
                type="warning",
            )

    async def close(self) -> None:
        """Close the alert without a verdict."""
        await self._set_status(AlertStatus.CLOSED, "alert_closed")

    async def reopen(self) -> None:
        """Reopen the alert."""
        await self._set_status(AlertStatus.OPEN, "alert_reopened")

    async def _set_status(self, status: AlertStatus, action: str) -> None:
        user = await auth.acting_user(self.services.users, Role.ANALYST)
        alert = self.stored.alert if self.stored else None
        if user is None or alert is None:
            return
        try:
            updated = await self.services.repository.set_alert_status(alert.id, status)
        except VigilError as exc:
            ui.notify(str(exc), type="negative")
            return
        await self.services.users.record(
            user.username, action, f"alert:{alert.id}", {"transaction_id": alert.transaction_id}
        )
        await self._changed(updated, f"Alert {status.value}.")

    async def _changed(self, alert: Alert, message: str) -> None:
        assert self.stored is not None  # noqa: S101
        self.stored = StoredDecision(
            transaction=self.stored.transaction,
            decision=self.stored.decision,
            received_at=self.stored.received_at,
            alert=alert,
        )
        self.services.hub.changed(alert)
        ui.notify(message, type="positive")
        self._draw_actions()

    def _rule_catalog(self) -> dict[str, RuleInfo]:
        try:
            return self.services.rules.active().by_id()
        except (RuleSetError, OSError):
            return {}


def _card(title: str) -> Any:
    card = ui.card().classes("vigil-card w-full gap-2")
    with card:
        ui.label(title).classes("text-sm font-bold uppercase tracking-wide vigil-muted")
    return card


def _facts(facts: list[tuple[str, str]]) -> None:
    with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-1 text-sm"):
        for name, value in facts:
            ui.label(name).classes("vigil-muted")
            ui.label(value).classes("vigil-mono break-all")


def _back_link() -> None:
    ui.link("← Live alerts", "/alerts").classes("text-sm")


def _outcome_color(outcome: Outcome) -> str:
    return OUTCOME_COLORS[outcome.value]
