"""Overview: what the engine is doing over a chosen time range, refreshed live.

Figures come from :class:`storage.analytics.Analytics` through the process's shared reads, so
any number of open Overview tabs cost one set of queries per range per refresh interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from sqlalchemy.exc import SQLAlchemyError

from storage.analytics import (
    AgeGroup,
    OutcomeBucket,
    RuleActivity,
    ScoreBin,
    StageLatency,
    TimeWindow,
)
from ui import auth, charts
from ui.format import milliseconds
from ui.layout import frame
from ui.services import UiServices

RANGES: Final = {900: "15 min", 3600: "1 h", 21600: "6 h", 86400: "24 h", 604800: "7 d"}
DEFAULT_RANGE: Final = 3600


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the Overview shows for one range, read at one moment."""

    window: TimeWindow
    series: list[OutcomeBucket]
    scores: list[ScoreBin]
    rules: list[RuleActivity]
    latency: list[StageLatency]
    ages: list[AgeGroup]


def kpis(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """The headline figures: ``(label, value, mark)``."""
    decisions = sum(b.total for b in snapshot.series)
    reviews = sum(b.review for b in snapshot.series)
    blocks = sum(b.block for b in snapshot.series)
    minutes = (snapshot.window.until - snapshot.window.since).total_seconds() / 60.0
    total = next((s for s in snapshot.latency if s.stage == "total"), None)
    open_alerts = sum(g.review + g.block for g in snapshot.ages)
    rate = f"{100.0 * (reviews + blocks) / decisions:.1f}%" if decisions else "—"
    return [
        ("Decisions", f"{decisions:,}", "kpi-decisions"),
        ("Per minute", f"{decisions / minutes:,.1f}", "kpi-rate"),
        ("Alert rate", rate, "kpi-alert-rate"),
        ("Reviews", f"{reviews:,}", "kpi-reviews"),
        ("Blocks", f"{blocks:,}", "kpi-blocks"),
        ("p99 latency", milliseconds(total.p99 if total else None), "kpi-p99"),
        ("Open alerts", f"{open_alerts:,}", "kpi-open"),
    ]


async def read_snapshot(services: UiServices, span_s: int) -> Snapshot:
    """The Overview's figures for the last ``span_s`` seconds (shared between pages)."""

    async def load() -> Snapshot:
        now = services.clock.now()
        window = TimeWindow.last(timedelta(seconds=span_s), now)
        analytics = services.analytics
        return Snapshot(
            window=window,
            series=await analytics.outcome_series(window),
            scores=await analytics.score_histogram(window),
            rules=await analytics.rule_activity(window),
            latency=await analytics.stage_latency(window),
            ages=await analytics.open_alerts_by_age(now),
        )

    result: Snapshot = await services.reads.get(("overview", span_s), load)
    return result


def register(services: UiServices) -> None:
    """Add ``/overview``."""

    @ui.page("/overview")
    async def overview_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="overview", title="Overview"):
            view = OverviewView(services)
            view.build()
            await view.refresh()
            ui.timer(services.config.dashboard_refresh_s, view.refresh)
        return None


class OverviewView:
    """KPIs and six charts for one range."""

    def __init__(self, services: UiServices) -> None:
        self.services = services
        self.span_s = DEFAULT_RANGE
        self.charts: dict[str, Any] = {}
        self.kpi_labels: dict[str, Any] = {}

    def build(self) -> None:
        """Draw the range switch, the KPI row and the empty charts."""
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Overview").classes("text-2xl font-bold")
            self.updated = ui.label("").classes("vigil-muted text-sm").mark("updated")
            ui.space()
            ui.toggle(RANGES, value=self.span_s, on_change=self._range_changed).props(
                "no-caps unelevated toggle-color=primary"
            ).mark("range")
        with ui.row().classes("w-full gap-3"):
            for label, _value, mark in kpis(_empty_snapshot(self.services, self.span_s)):
                with ui.card().classes("vigil-card flex-1 min-w-[9rem] p-3 gap-1"):
                    ui.label(label).classes("vigil-kpi-label")
                    self.kpi_labels[mark] = ui.label("…").classes("vigil-kpi-value").mark(mark)
        with ui.grid(columns="repeat(auto-fit, minmax(min(100%, 34rem), 1fr))").classes(
            "w-full gap-4"
        ):
            for key, title in (
                ("rate", "Decisions per minute"),
                ("share", "Outcome mix: share of reviews and blocks"),
                ("scores", "Risk-score distribution"),
                ("rules", "Top rules by hits"),
                ("latency", "Latency per stage (p50 / p99)"),
                ("ages", "Open alerts by age"),
            ):
                with ui.card().classes("vigil-card gap-1"):
                    ui.label(title).classes("text-sm font-bold uppercase tracking-wide vigil-muted")
                    self.charts[key] = ui.echart({}).classes("w-full h-72").mark(f"chart-{key}")

    async def refresh(self) -> None:
        """Read the figures (shared) and update the page in place."""
        try:
            snapshot = await read_snapshot(self.services, self.span_s)
        except (SQLAlchemyError, OSError) as exc:
            self.updated.text = f"cannot read PostgreSQL: {exc}"
            return
        for _label, value, mark in kpis(snapshot):
            self.kpi_labels[mark].text = value
        options = {
            "rate": charts.decisions_per_minute(snapshot.series, snapshot.window.bucket),
            "share": charts.alert_share(snapshot.series, snapshot.window.bucket),
            "scores": charts.score_distribution(snapshot.scores),
            "rules": charts.top_rules(snapshot.rules),
            "latency": charts.stage_latency(snapshot.latency),
            "ages": charts.open_alerts_by_age(snapshot.ages),
        }
        for key, option in options.items():
            chart = self.charts[key]
            chart.options.clear()
            chart.options.update(option)
            chart.update()
        self.updated.text = f"updated {snapshot.window.until:%H:%M:%S} UTC"

    async def _range_changed(self, event: Any) -> None:
        self.span_s = int(event.value)
        await self.refresh()


def _empty_snapshot(services: UiServices, span_s: int) -> Snapshot:
    window = TimeWindow.last(timedelta(seconds=span_s), services.clock.now())
    return Snapshot(window=window, series=[], scores=[], rules=[], latency=[], ages=[])
