"""Audit log (admins): who signed in, labelled, closed, published and scaled, and when."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from storage.users import AuditEntry, Role
from ui import auth
from ui.format import timestamp
from ui.layout import denied, frame
from ui.services import UiServices

LIMIT: Final = 500
COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "at", "label": "When (UTC)", "field": "at", "align": "left", "sortable": True},
    {"name": "actor", "label": "Who", "field": "actor", "align": "left", "sortable": True},
    {"name": "action", "label": "Action", "field": "action", "align": "left", "sortable": True},
    {"name": "target", "label": "Target", "field": "target", "align": "left", "sortable": True},
    {"name": "details", "label": "Details", "field": "details", "align": "left"},
]


def audit_row(entry: AuditEntry) -> dict[str, object]:
    """One audit entry as a table row."""
    return {
        "id": entry.id,
        "at": timestamp(entry.at),
        "actor": entry.actor,
        "action": entry.action.replace("_", " "),
        "target": entry.target,
        "details": ", ".join(f"{k}: {v}" for k, v in sorted(entry.details.items()) if v),
        "link": f"/alerts/{entry.details['transaction_id']}"
        if entry.details.get("transaction_id")
        else "",
    }


def register(services: UiServices) -> None:
    """Add ``/audit``."""

    @ui.page("/audit")
    async def audit_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        if not user.role.allows(Role.ADMIN):
            denied(services, user, active="audit", title="Audit log", role=Role.ADMIN)
            return None
        with frame(services, user, active="audit", title="Audit log"):
            ui.label("Audit log").classes("text-2xl font-bold")
            entries = await services.users.audit_log(limit=LIMIT)
            with ui.card().classes("vigil-card w-full p-0"):
                table = ui.table(
                    columns=COLUMNS,
                    rows=[audit_row(e) for e in entries],
                    row_key="id",
                    pagination=25,
                )
                table.props("flat dense").classes("vigil-table w-full").mark("audit-table")
                table.add_slot(
                    "body-cell-target",
                    r"""<q-td :props="props">
                      <a v-if="props.row.link" :href="props.row.link">{{ props.value }}</a>
                      <span v-else>{{ props.value }}</span>
                    </q-td>""",
                )
                with table.add_slot("top-right"):
                    ui.input(placeholder="Search").props("dense clearable").bind_value(
                        table, "filter"
                    )
        return None
