"""Rules: the active set with hit counts, and an editor that validates and publishes rule files.

"Validate" runs the engine's loader on the edited text (with the other files as they are) and
marks every problem's line in the editor. "Publish" (admins) writes the file only if the set
loads, records who did it, then polls the gateway until every rules replica reports the new
version (or says which replicas lag, or that the gateway cannot be reached).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, Final, Literal

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui
from sqlalchemy.exc import SQLAlchemyError

from client.gateway import GatewayUnavailable
from core.errors import RuleSetError, VigilError
from storage.analytics import RuleActivity, TimeWindow
from storage.users import Role, User
from ui import auth
from ui.format import DASH, ago
from ui.layout import THEME_KEY, frame
from ui.rules_catalog import ActiveRules, Validation
from ui.services import UiServices

WINDOWS: Final = {3600: "1 h", 86400: "24 h", 604800: "7 d", 2592000: "30 d"}
POLL_S: Final = 1.0
COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "id", "label": "Rule", "field": "id", "align": "left", "sortable": True},
    {"name": "action", "label": "Action", "field": "action", "sortable": True},
    {"name": "score", "label": "Score", "field": "score", "sortable": True},
    {"name": "hits", "label": "Hits", "field": "hits", "sortable": True},
    {"name": "errors", "label": "Errors", "field": "errors", "sortable": True},
    {"name": "last_hit", "label": "Last hit", "field": "last_hit", "align": "left"},
    {"name": "file", "label": "File", "field": "file", "align": "left", "sortable": True},
    {
        "name": "description",
        "label": "Description",
        "field": "description",
        "align": "left",
        "style": "white-space: normal; min-width: 18rem",
    },
]


def rule_rows(active: ActiveRules, activity: list[RuleActivity], now: Any) -> list[dict[str, Any]]:
    """The rules table: every active rule with its hits and errors in the window."""
    by_rule = {a.rule_id: a for a in activity}
    rows = []
    for rule in active.rules:
        seen = by_rule.get(rule.id)
        rows.append(
            {
                "id": rule.id,
                "action": rule.action.value if rule.enabled else f"{rule.action.value} (off)",
                "score": f"{rule.score:.2f}",
                "hits": seen.hits if seen else 0,
                "errors": seen.errors if seen else 0,
                "last_hit": ago(seen.last_hit, now) if seen and seen.last_hit else DASH,
                "file": rule.file,
                "description": rule.description,
            }
        )
    return rows


def register(services: UiServices) -> None:
    """Add ``/rules``."""

    @ui.page("/rules")
    async def rules_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="rules", title="Rules"):
            view = RulesView(services, user)
            view.build()
            await view.refresh()
        return None


class RulesView:
    """The rules table and the rule-file editor of one tab."""

    def __init__(self, services: UiServices, user: User) -> None:
        self.services = services
        self.user = user
        self.window_s = 86400
        self.file: str | None = None

    def build(self) -> None:
        """Draw the header, the rules table and the editor."""
        catalog = self.services.rules
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Rules").classes("text-2xl font-bold")
            self.version_chip = ui.chip("", icon="tag").props("square outline").mark("version")
            self.counts = ui.label("").classes("vigil-muted")
            ui.space()
            ui.toggle(WINDOWS, value=self.window_s, on_change=self._window_changed).props(
                "no-caps unelevated toggle-color=primary"
            ).mark("window")
        self.replicas = ui.row().classes("w-full items-center gap-2").mark("replicas")
        with ui.card().classes("vigil-card w-full p-0"):
            self.table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination=15)
            self.table.props("flat dense").classes("vigil-table w-full").mark("rules-table")
            self.table.add_slot(
                "body-cell-action",
                r"""<q-td :props="props"><q-badge :label="props.value"
                  :color="props.value.startsWith('block') ? 'negative'
                    : (props.value.startsWith('review') ? 'warning' : 'grey')"
                  :text-color="props.value.startsWith('review') ? 'black' : 'white'" /></q-td>""",
            )
        files = catalog.file_names()
        self.file = files[0] if files else None
        with ui.card().classes("vigil-card w-full gap-3"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label("Edit rule file").classes("text-lg font-bold")
                self.file_select = ui.select(files, value=self.file, on_change=self._file_changed)
                self.file_select.props("outlined dense").classes("w-64").mark("rule-file")
                ui.space()
                ui.button("Revert", icon="undo", on_click=self._load_file).props("flat")
                ui.button("Validate", icon="fact_check", on_click=self.validate).props(
                    "outline color=primary"
                ).mark("validate")
                publish = ui.button("Publish", icon="publish", on_click=self.publish)
                publish.props("unelevated color=primary").mark("publish")
                if not self.user.role.allows(Role.ADMIN):
                    publish.disable()
                    publish.tooltip("Publishing rules needs the admin role")
            dark = app.storage.user.get(THEME_KEY) is True
            theme: Literal["basicDark", "basicLight"] = "basicDark" if dark else "basicLight"
            self.editor = ui.codemirror("", language="YAML", theme=theme, indent="  ")
            self.editor.classes("w-full h-[28rem] text-sm").mark("editor")
            self.result = ui.column().classes("w-full gap-1").mark("validation")
        self._load_file()

    async def refresh(self) -> None:
        """Read the active set, hit counts and replica versions."""
        try:
            active = self.services.rules.active()
        except RuleSetError as exc:
            self.version_chip.text = "rules on disk do not load"
            self.counts.text = exc.summary
            return
        enabled = sum(rule.enabled for rule in active.rules)
        self.version_chip.text = f"version {active.version}"
        self.counts.text = (
            f"{len(active.rules)} rules ({enabled} enabled) in {len(active.files)} files"
        )
        now = self.services.clock.now()
        window = TimeWindow.last(timedelta(seconds=self.window_s), now)
        try:
            activity = await self.services.reads.get(
                ("rules", self.window_s), lambda: self.services.analytics.rule_activity(window)
            )
        except (SQLAlchemyError, OSError) as exc:
            ui.notify(f"Cannot read rule hits from PostgreSQL: {exc}", type="warning")
            activity = []
        self.table.rows = rule_rows(active, activity, now)
        await self._show_replicas(active.version)

    async def _show_replicas(self, version: str) -> None:
        self.replicas.clear()
        with self.replicas:
            ui.label("Replicas:").classes("text-sm vigil-muted")
            try:
                versions = await self.services.gateway.rule_versions()
            except GatewayUnavailable as exc:
                ui.chip("gateway unreachable", icon="cloud_off", color="warning").props(
                    "square dense"
                ).mark("gateway-unreachable").tooltip(str(exc))
                return
            if not versions.versions:
                ui.label("no rules replica reports a version").classes("text-sm")
            for replica, reported in sorted(versions.versions.items()):
                current = reported == version
                ui.chip(
                    f"{replica}: {reported}",
                    icon="check_circle" if current else "hourglass_top",
                    color="positive" if current else "warning",
                ).props("square dense text-color=white")

    # ---- editor --------------------------------------------------------------------------

    def _load_file(self) -> None:
        self.result.clear()
        self.editor.decorations = []
        self.editor.line_tooltips = {}
        if self.file is None:
            self.editor.value = ""
            return
        try:
            self.editor.value = self.services.rules.read(self.file)
        except (VigilError, OSError) as exc:
            ui.notify(str(exc), type="negative")

    def _file_changed(self, event: Any) -> None:
        self.file = str(event.value) if event.value else None
        self._load_file()

    def validate(self) -> Validation | None:
        """Check the edited text with the engine's loader and show the result."""
        if self.file is None:
            return None
        try:
            validation = self.services.rules.validate(self.file, self.editor.value or "")
        except (VigilError, OSError) as exc:
            ui.notify(str(exc), type="negative")
            return None
        self._show(validation)
        return validation

    def _show(self, validation: Validation, *, published: bool = False) -> None:
        self.result.clear()
        mine = [p for p in validation.problems if p.file == self.file and p.line]
        self.editor.decorations = [
            {"kind": "line", "line": p.line, "class": "vigil-problem-line"} for p in mine
        ]
        tooltips: dict[int, str] = {}
        for p in mine:
            tooltips[p.line] = "\n".join(filter(None, [tooltips.get(p.line), p.message]))
        self.editor.line_tooltips = tooltips
        with self.result:
            if validation.ok:
                verb = "Published" if published else "Valid"
                ui.label(
                    f"{verb}: {validation.rule_count} rules, version {validation.version}"
                ).classes("text-positive font-bold").mark("validation-ok")
                return
            count = len(validation.problems)
            ui.label(f"{count} problem{'s' if count != 1 else ''}; nothing was written").classes(
                "text-negative font-bold"
            ).mark("validation-failed")
            for problem in validation.problems:
                ui.label(str(problem)).classes("vigil-mono text-sm text-negative").mark("problem")

    async def publish(self) -> None:
        """Write the file if it loads; then wait for every replica to report its version."""
        user = await auth.acting_user(self.services.users, Role.ADMIN)
        if user is None or self.file is None:
            return
        try:
            before = self.services.rules.active().version
        except RuleSetError:
            before = None
        try:
            validation = self.services.rules.publish(self.file, self.editor.value or "")
        except (VigilError, OSError) as exc:
            ui.notify(str(exc), type="negative")
            return
        self._show(validation, published=validation.ok)
        if not validation.ok or validation.version is None:
            return
        await self.services.users.record(
            user.username,
            "rules_published",
            f"rules:{self.file}",
            {"version": validation.version, "previous_version": before},
        )
        ui.notify(f"Published {self.file}: version {validation.version}", type="positive")
        await self.refresh()
        await self._await_replicas(validation.version)

    async def _await_replicas(self, version: str) -> None:
        with self.result:
            status = ui.label("Waiting for the rules replicas to load it …").mark("rollout")
        deadline = time.monotonic() + self.services.config.publish_wait_s
        while True:
            try:
                versions = await self.services.gateway.rule_versions()
            except GatewayUnavailable as exc:
                status.text = f"Written, but cannot confirm the rollout: {exc}"
                status.classes("text-warning")
                return
            if versions.all_at(version):
                status.text = f"Every replica ({len(versions.versions)}) now scores with {version}."
                status.classes("text-positive")
                await self._show_replicas(version)
                return
            if time.monotonic() >= deadline:
                lagging = ", ".join(f"{r} ({v})" for r, v in versions.behind(version).items())
                status.text = f"Not every replica reports {version} yet: {lagging}"
                status.classes("text-warning")
                return
            await asyncio.sleep(POLL_S)

    async def _window_changed(self, event: Any) -> None:
        self.window_s = int(event.value)
        await self.refresh()
