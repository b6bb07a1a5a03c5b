"""Daily summary: one row per day (UTC) of decisions, alerts and investigators' verdicts.

This replaces the seed's ``daily_summary.log``: the same figures, from one query
(:meth:`storage.analytics.Analytics.daily_summary`), with a CSV download.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from sqlalchemy.exc import SQLAlchemyError

from storage.analytics import DailySummary
from ui import auth
from ui.format import DASH, milliseconds
from ui.layout import frame
from ui.services import UiServices

DAY_CHOICES: Final = {7: "7 days", 30: "30 days", 90: "90 days"}
COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "day", "label": "Day (UTC)", "field": "day", "align": "left", "sortable": True},
    {"name": "decisions", "label": "Decisions", "field": "decisions", "sortable": True},
    {"name": "allow", "label": "Allow", "field": "allow", "sortable": True},
    {"name": "review", "label": "Review", "field": "review", "sortable": True},
    {"name": "block", "label": "Block", "field": "block", "sortable": True},
    {"name": "alert_rate", "label": "Alert rate", "field": "alert_rate", "sortable": True},
    {"name": "open_alerts", "label": "Still open", "field": "open_alerts", "sortable": True},
    {"name": "fraud", "label": "Fraud", "field": "fraud", "sortable": True},
    {"name": "legit", "label": "Legit", "field": "legit", "sortable": True},
    {"name": "mean_risk", "label": "Mean risk", "field": "mean_risk", "sortable": True},
    {"name": "p99", "label": "p99 latency", "field": "p99", "sortable": True},
    {"name": "degraded", "label": "Degraded", "field": "degraded", "sortable": True},
]


def summary_row(day: DailySummary) -> dict[str, Any]:
    """A table row for one day."""
    alerts = day.review + day.block
    return {
        "day": day.day.isoformat(),
        "decisions": day.decisions,
        "allow": day.allow,
        "review": day.review,
        "block": day.block,
        "alert_rate": f"{100.0 * alerts / day.decisions:.2f}%" if day.decisions else DASH,
        "open_alerts": day.open_alerts,
        "fraud": day.fraud,
        "legit": day.legit,
        "mean_risk": f"{day.mean_risk:.3f}",
        "p99": milliseconds(day.p99_total_ms),
        "degraded": day.degraded,
    }


def summary_csv(days: list[DailySummary]) -> str:
    """The summary as CSV (raw numbers, one line per day)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "day",
            "decisions",
            "allow",
            "review",
            "block",
            "alerts",
            "open_alerts",
            "fraud",
            "legit",
            "mean_risk",
            "p99_total_ms",
            "degraded",
        ]
    )
    for d in days:
        writer.writerow(
            [
                d.day.isoformat(),
                d.decisions,
                d.allow,
                d.review,
                d.block,
                d.alerts,
                d.open_alerts,
                d.fraud,
                d.legit,
                f"{d.mean_risk:.6f}",
                "" if d.p99_total_ms is None else f"{d.p99_total_ms:.3f}",
                d.degraded,
            ]
        )
    return buffer.getvalue()


def register(services: UiServices) -> None:
    """Add ``/daily``."""

    @ui.page("/daily")
    async def daily_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="daily", title="Daily summary"):
            state: dict[str, Any] = {"days": 30, "rows": []}
            with ui.row().classes("w-full items-center gap-3"):
                ui.label("Daily summary").classes("text-2xl font-bold")
                ui.space()
                choice = (
                    ui.toggle(DAY_CHOICES, value=30)
                    .props("no-caps unelevated toggle-color=primary")
                    .mark("days")
                )
                ui.button(
                    "CSV",
                    icon="download",
                    on_click=lambda: ui.download.content(
                        summary_csv(state["rows"]), "vigil-daily-summary.csv", "text/csv"
                    ),
                ).props("outline").mark("csv")
            with ui.card().classes("vigil-card w-full p-0"):
                table = ui.table(columns=COLUMNS, rows=[], row_key="day", pagination=0)
                table.props("flat dense").classes("vigil-table w-full").mark("daily-table")

            async def load() -> None:
                days = int(choice.value or 30)
                today = services.clock.now().date()
                since = datetime.combine(today - timedelta(days=days - 1), time(), tzinfo=UTC)
                until = datetime.combine(today + timedelta(days=1), time(), tzinfo=UTC)
                try:
                    rows = await services.reads.get(
                        ("daily", days, today),
                        lambda: services.analytics.daily_summary(since, until),
                    )
                except (SQLAlchemyError, OSError) as exc:
                    ui.notify(f"Cannot read PostgreSQL: {exc}", type="negative")
                    return
                state["rows"] = rows
                table.rows = [summary_row(day) for day in rows]

            choice.on_value_change(load)
            await load()
            ui.timer(services.config.dashboard_refresh_s * 6, load)
        return None
