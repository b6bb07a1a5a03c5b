"""Live alerts: history from PostgreSQL, new alerts pushed from the decision stream.

The page loads one page of history with its filters, then subscribes to the process's
:class:`~ui.hub.AlertHub`. Pushed alerts that match the filters are merged in (at most
``max_rows`` rows stay in the browser) and flash once; while the feed is paused, or while the
analyst is paging through older alerts, they are counted instead and shown on resume. Redraws
are coalesced to at most one per :data:`MIN_REDRAW_S`, so a burst of alerts costs one update.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import events, ui
from sqlalchemy.exc import SQLAlchemyError

from core.alerts import AlertStatus
from core.errors import RuleSetError, VigilError
from core.models import Outcome
from storage.repository import Alert, AlertCursor
from ui import auth
from ui.format import alert_row
from ui.layout import frame
from ui.live import AlertItem, LiveFilter, LiveRows, item_from_alert
from ui.services import UiServices

MIN_REDRAW_S: Final = 0.1
TIME_RANGES: Final = {
    0: "All time",
    900: "Last 15 min",
    3600: "Last hour",
    21600: "Last 6 h",
    86400: "Last 24 h",
    604800: "Last 7 days",
    2592000: "Last 30 days",
}
COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "time", "label": "Time (UTC)", "field": "ts", "sortable": True, "align": "left"},
    {"name": "account", "label": "Account", "field": "account", "sortable": True, "align": "left"},
    {"name": "amount", "label": "Amount", "field": "amount_value", "sortable": True},
    {
        "name": "merchant",
        "label": "Merchant",
        "field": "merchant",
        "sortable": True,
        "align": "left",
    },
    {"name": "country", "label": "Country", "field": "country", "sortable": True},
    {"name": "outcome", "label": "Outcome", "field": "outcome", "sortable": True},
    {"name": "score", "label": "Risk", "field": "score", "sortable": True, "align": "left"},
    {"name": "reason", "label": "Top reason", "field": "reason", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "sortable": True},
]
CELL_SLOTS: Final = {
    "time": r"""<q-td :props="props" :data-transaction-id="props.row.transaction_id">
      <span class="vigil-mono">{{ props.row.time }}</span>
      <q-badge v-if="props.row.new" color="primary" label="NEW" class="q-ml-sm" />
    </q-td>""",
    "account": r"""<q-td :props="props"><span class="vigil-mono">{{ props.value }}</span></q-td>""",
    "amount": r"""<q-td :props="props">
      <span class="vigil-mono">{{ props.row.amount }}</span>
    </q-td>""",
    "outcome": r"""<q-td :props="props">
      <q-badge :color="props.value === 'block' ? 'negative' : 'warning'"
               :text-color="props.value === 'block' ? 'white' : 'black'"
               :icon="props.value === 'block' ? 'block' : 'visibility'"
               :label="props.value.toUpperCase()" class="text-weight-bold q-px-sm" />
    </q-td>""",
    "score": r"""<q-td :props="props">
      <div class="vigil-score">
        <span class="vigil-mono">{{ props.value.toFixed(2) }}</span>
        <div class="vigil-score-bar">
          <div :style="{width: props.row.score_pct, background: props.row.score_color}"></div>
        </div>
      </div>
    </q-td>""",
    "reason": r"""<q-td :props="props">
      <div class="vigil-ellipsis" :title="props.value">{{ props.value }}</div>
    </q-td>""",
    "status": r"""<q-td :props="props">
      <q-chip dense square :outline="props.value === 'closed'" :label="props.value"
              :color="props.value === 'open' ? 'primary' : 'grey'"
              :text-color="props.value === 'open' ? 'white' : ''" />
      <q-chip v-if="props.row.label" dense square text-color="white" :label="props.row.label"
              :color="props.row.label === 'fraud' ? 'negative' : 'positive'" />
    </q-td>""",
}
"""Custom cells; rows stay Quasar's own, so row clicks and virtual scrolling keep working."""


def register(services: UiServices) -> None:
    """Add ``/alerts``."""

    @ui.page("/alerts")
    async def alerts_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="alerts", title="Live alerts"):
            view = LiveAlertsView(services)
            view.build()
            await view.load_newest()
        return None


class LiveAlertsView:
    """One browser tab's live table: its filters, rows, pause state and history position."""

    def __init__(self, services: UiServices) -> None:
        self.services = services
        self.filter = LiveFilter()
        self.rows = LiveRows(services.config.max_rows)
        self.paused = False
        self.waiting: list[AlertItem] = []
        """Matching alerts pushed while paused or paging (at most ``max_rows``)."""
        self.missed = 0
        """How many pushed alerts arrived while waiting (may exceed what is kept)."""
        self.pages: list[AlertCursor | None] = [None]
        """Where each page from the newest to the one shown starts (``None``: the newest)."""
        self._last_redraw = 0.0
        self._redraw_pending = False

    # ---- drawing -------------------------------------------------------------------------

    def build(self) -> None:
        """Draw the filter bar, the feed controls and the table; subscribe to the hub."""
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Live alerts").classes("text-2xl font-bold")
            self.summary = ui.label("").classes("vigil-muted").mark("summary")
            ui.space()
            self.waiting_button = ui.button("", icon="fiber_new", on_click=self.show_waiting)
            self.waiting_button.props("unelevated color=primary").mark("waiting")
            self.pause_button = ui.button("Pause", icon="pause", on_click=self.toggle_pause)
            self.pause_button.props("outline").mark("pause")
        self._filters()
        with ui.card().classes("vigil-card w-full p-0"):
            self.table = ui.table(columns=COLUMNS, rows=[], row_key="transaction_id", pagination=0)
            # virtual scroll: only the rows in view are in the DOM, so a redraw stays cheap
            self.table.classes("vigil-table vigil-live-table w-full").mark("alerts-table")
            self.table.props(
                "flat dense hide-bottom virtual-scroll :virtual-scroll-sticky-size-start=28"
            )
            self.table.style("height: calc(100vh - 290px); min-height: 22rem")
            self.table.props(':table-row-class-fn="row => row.row_class"')
            for column, template in CELL_SLOTS.items():
                self.table.add_slot(f"body-cell-{column}", template)
            self.table.on("row-click", self._open)
            with ui.row().classes("w-full items-center justify-end gap-2 px-3 pb-2"):
                self.page_label = ui.label("").classes("text-sm vigil-muted")
                self.newest_button = ui.button(
                    "Newest", icon="first_page", on_click=self.load_newest
                )
                self.newest_button.props("flat dense").mark("newest")
                self.newer_button = ui.button(
                    "Newer", icon="chevron_left", on_click=self.load_newer
                )
                self.newer_button.props("flat dense").mark("newer")
                self.older_button = ui.button(
                    "Older", icon="chevron_right", on_click=self.load_older
                )
                self.older_button.props("flat dense").mark("older")
        self.services.hub.new_alerts.subscribe(self.receive)
        self.services.hub.alert_changed.subscribe(self.apply_change)
        self._show_controls()

    def _filters(self) -> None:
        rule_ids = self._rule_ids()
        with ui.row().classes("w-full items-end gap-3"):
            self.outcome = (
                ui.select(
                    {"": "Any outcome", "block": "Block", "review": "Review"},
                    value="",
                    label="Outcome",
                )
                .props("outlined dense options-dense")
                .classes("w-36")
                .mark("filter-outcome")
            )
            self.status = (
                ui.select(
                    {"": "Any status", "open": "Open", "closed": "Closed"}, value="", label="Status"
                )
                .props("outlined dense options-dense")
                .classes("w-36")
                .mark("filter-status")
            )
            self.rule = ui.input("Rule hit", autocomplete=rule_ids)
            self.rule.props("outlined dense clearable debounce=400").classes("w-64")
            self.rule.mark("filter-rule").tooltip("Alerts where this rule hit (Tab completes)")
            self.account = ui.input("Account").props("outlined dense clearable debounce=400")
            self.account.classes("w-48").mark("filter-account")
            self.window = ui.select(TIME_RANGES, value=0, label="Time range")
            self.window.props("outlined dense options-dense").classes("w-40").mark("filter-time")
            with ui.column().classes("gap-0 w-56"):
                self.score_label = ui.label("Risk 0.00 to 1.00").classes("text-xs vigil-muted")
                self.score = ui.range(min=0.0, max=1.0, step=0.05, value={"min": 0.0, "max": 1.0})
                self.score.props("label dense").mark("filter-score")
        for element in (self.outcome, self.status, self.rule, self.account, self.window):
            element.on_value_change(self.apply_filters)
        self.score.on("change", self.apply_filters)

    def _rule_ids(self) -> list[str]:
        try:
            return sorted(rule.id for rule in self.services.rules.active().rules)
        except (RuleSetError, OSError):
            return []

    def _redraw(self) -> None:
        """Push the rows to the browser now, or once the redraw interval has passed."""
        if self._redraw_pending:
            return
        wait = self._last_redraw + MIN_REDRAW_S - time.monotonic()
        if wait <= 0:
            self._redraw_now()
            return
        self._redraw_pending = True
        ui.timer(wait, self._redraw_now, once=True)

    def _redraw_now(self) -> None:
        self._redraw_pending = False
        self._last_redraw = time.monotonic()
        self.table.rows = [
            alert_row(item, pushed=item.transaction_id in self.rows.pushed)
            for item in self.rows.items
        ]
        self._show_controls()

    def _show_controls(self) -> None:
        live = not self.paused and not self.paging
        self.pause_button.text = "Resume" if self.paused else "Pause"
        self.pause_button.props(f"icon={'play_arrow' if self.paused else 'pause'}")
        self.waiting_button.text = f"{self.missed} new"
        self.waiting_button.visible = self.missed > 0
        self.newer_button.enabled = self.paging
        self.newest_button.enabled = self.paging
        self.older_button.enabled = self.rows.oldest is not None
        state = "live" if live else ("paused" if self.paused else "viewing history")
        self.summary.text = f"{len(self.rows.items)} alerts shown · {state}"
        self.page_label.text = f"Page {len(self.pages)}"

    @property
    def paging(self) -> bool:
        """Whether an older page is shown (live alerts then wait)."""
        return len(self.pages) > 1

    # ---- filters and history -------------------------------------------------------------

    async def apply_filters(self, _event: Any = None) -> None:
        """Read the filter controls and reload the newest page."""
        span = int(self.window.value or 0)
        try:
            self.filter = LiveFilter(
                outcome=Outcome(self.outcome.value) if self.outcome.value else None,
                status=AlertStatus(self.status.value) if self.status.value else None,
                min_score=float(self.score.value["min"]),
                max_score=float(self.score.value["max"]),
                rule_id=(self.rule.value or "").strip() or None,
                account_id=(self.account.value or "").strip() or None,
                within=timedelta(seconds=span) if span else None,
            )
        except VigilError as exc:
            ui.notify(str(exc), type="negative")
            return
        self.score_label.text = f"Risk {self.filter.min_score:.2f} to {self.filter.max_score:.2f}"
        await self.load_newest()

    async def load_newest(self) -> None:
        """Show the newest page for the filters and take live alerts again."""
        self.pages = [None]
        self.waiting.clear()
        self.missed = 0
        await self._load(None)

    async def load_older(self) -> None:
        """Show the page of alerts older than the last row shown."""
        oldest = self.rows.oldest
        if oldest is None:
            return
        if await self._load(oldest.cursor, fallback=True):
            self.pages.append(oldest.cursor)
            self._show_controls()

    async def load_newer(self) -> None:
        """Go back one page towards the newest."""
        if len(self.pages) <= 2:
            await self.load_newest()
            return
        self.pages.pop()
        await self._load(self.pages[-1])

    async def _load(self, after: AlertCursor | None, *, fallback: bool = False) -> bool:
        now = self.services.clock.now()
        try:
            page = await self.services.repository.list_alerts(
                self.filter.alert_filter(now), limit=self.services.config.page_size, after=after
            )
            ids = [alert.transaction_id for alert in page.items]
            transactions = await self.services.analytics.transactions(ids)
        except (SQLAlchemyError, OSError) as exc:
            ui.notify(f"Cannot read alerts from PostgreSQL: {exc}", type="negative")
            return False
        if fallback and not page.items:
            ui.notify("No older alerts.", type="info")
            return False
        self.rows.reset(item_from_alert(a, transactions.get(a.transaction_id)) for a in page.items)
        self._redraw_now()
        return True

    # ---- live updates --------------------------------------------------------------------

    def receive(self, items: list[AlertItem]) -> None:
        """A batch of new alerts from the feed."""
        now = self.services.clock.now()
        matching = [item for item in items if self.filter.matches(item, now)]
        if not matching:
            return
        if self.paused or self.paging:
            self.missed += len(matching)
            keep = self.services.config.max_rows
            self.waiting = [*matching, *self.waiting][:keep]
            self._show_controls()
            return
        if self.rows.push(matching):
            self._redraw()

    def apply_change(self, alert: Alert) -> None:
        """An investigator labelled, closed or reopened an alert somewhere in this process."""
        if self.rows.update(alert):
            self._redraw()

    async def toggle_pause(self) -> None:
        """Pause the feed (alerts are counted), or resume it (they are shown)."""
        self.paused = not self.paused
        if not self.paused:
            await self.show_waiting()
            return
        self._show_controls()

    async def show_waiting(self) -> None:
        """Show the alerts that arrived while paused or paging, and go live."""
        self.paused = False
        if self.paging:
            await self.load_newest()
            return
        self.rows.push(self.waiting)
        self.waiting.clear()
        self.missed = 0
        self._redraw_now()

    def _open(self, event: events.GenericEventArguments) -> None:
        """A row was clicked (Quasar sends ``[event, row, index]``): open its alert."""
        row = event.args[1] if isinstance(event.args, list) and len(event.args) > 1 else {}
        transaction_id = str(row.get("transaction_id", "")) if isinstance(row, dict) else ""
        if transaction_id:
            ui.navigate.to(f"/alerts/{transaction_id}")
