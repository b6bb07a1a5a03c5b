"""ECharts options for the dashboards, built from :mod:`storage.analytics` results (pure).

Colours are the app's outcome colours; text and grid lines use mid greys that read on both the
light and the dark theme, and backgrounds are transparent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from storage.analytics import (
    AgeGroup,
    OutcomeBucket,
    RuleActivity,
    ScoreBin,
    StageLatency,
)
from ui.theme import OUTCOME_COLORS

AXIS_GREY: Final = "#8b95a5"
GRID_GREY: Final = "rgba(139, 149, 165, 0.25)"
Options = dict[str, Any]


def _base(**extra: Any) -> Options:
    return {
        "backgroundColor": "transparent",
        "textStyle": {"color": AXIS_GREY},
        "grid": {"left": 48, "right": 16, "top": 36, "bottom": 28, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "animation": False,
        **extra,
    }


def _axis(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "axisLine": {"lineStyle": {"color": AXIS_GREY}},
        "splitLine": {"lineStyle": {"color": GRID_GREY}},
        **extra,
    }


def _legend(*names: str) -> dict[str, Any]:
    return {"data": list(names), "top": 0, "textStyle": {"color": AXIS_GREY}}


def time_labels(series: Sequence[OutcomeBucket], bucket: timedelta) -> list[str]:
    """Bucket starts as axis labels: ``14:05`` below an hour, ``03-01 14:00`` up to a day."""
    if bucket >= timedelta(days=1):
        pattern = "%m-%d"
    elif bucket >= timedelta(hours=1):
        pattern = "%m-%d %H:%M"
    else:
        pattern = "%H:%M"
    return [b.start.strftime(pattern) for b in series]


def decisions_per_minute(series: Sequence[OutcomeBucket], bucket: timedelta) -> Options:
    """Decisions per minute over time, stacked by outcome."""
    minutes = bucket.total_seconds() / 60.0
    times = time_labels(series, bucket)

    def rate(values: list[int]) -> list[float]:
        return [round(v / minutes, 2) for v in values]

    return _base(
        legend=_legend("allow", "review", "block"),
        xAxis=_axis("category", data=times, boundaryGap=False),
        yAxis=_axis("value", name="per min"),
        series=[
            {
                "name": outcome,
                "type": "line",
                "stack": "rate",
                "areaStyle": {"opacity": 0.35},
                "symbol": "none",
                "color": OUTCOME_COLORS[outcome],
                "data": rate([getattr(b, outcome) for b in series]),
            }
            for outcome in ("allow", "review", "block")
        ],
    )


def alert_share(series: Sequence[OutcomeBucket], bucket: timedelta) -> Options:
    """Share of decisions that were reviews and blocks, per bucket, in percent."""
    times = time_labels(series, bucket)

    def share(bucket: OutcomeBucket, count: int) -> float | None:
        return round(100.0 * count / bucket.total, 2) if bucket.total else None

    return _base(
        legend=_legend("review", "block"),
        xAxis=_axis("category", data=times, boundaryGap=False),
        yAxis=_axis("value", name="% of decisions", min=0),
        series=[
            {
                "name": outcome,
                "type": "line",
                "symbol": "none",
                "connectNulls": False,
                "color": OUTCOME_COLORS[outcome],
                "data": [share(b, getattr(b, outcome)) for b in series],
            }
            for outcome in ("review", "block")
        ],
    )


def score_distribution(bins: Sequence[ScoreBin]) -> Options:
    """Risk-score histogram by outcome on a log scale (allows dwarf the rest).

    Bars of one bin overlap instead of stacking (stacks misdraw on log axes); each bin is
    nearly always one outcome, because thresholds split the score range.
    """
    labels = [f"{b.lower:.2f}" for b in bins]
    return _base(
        legend=_legend("allow", "review", "block"),
        xAxis=_axis("category", data=labels, name="risk score"),
        yAxis=_axis("log", name="decisions", logBase=10, min=1),
        series=[
            {
                "name": outcome,
                "type": "bar",
                "barGap": "-100%",
                "color": OUTCOME_COLORS[outcome],
                "data": [getattr(b, outcome) or None for b in bins],
            }
            for outcome in ("allow", "review", "block")
        ],
    )


def top_rules(activity: Sequence[RuleActivity], *, limit: int = 10) -> Options:
    """The rules with the most hits, as horizontal bars (most hits on top)."""
    top = sorted(activity, key=lambda a: (-a.hits, a.rule_id))[:limit]
    top.reverse()
    return _base(
        tooltip={"trigger": "axis", "axisPointer": {"type": "shadow"}},
        grid={"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        xAxis=_axis("value", minInterval=1),
        yAxis=_axis("category", data=[a.rule_id for a in top]),
        series=[
            {
                "name": "hits",
                "type": "bar",
                "color": "#6366f1",
                "label": {"show": True, "position": "right", "color": AXIS_GREY},
                "data": [a.hits for a in top],
            }
        ],
    )


def stage_latency(stages: Sequence[StageLatency]) -> Options:
    """p50 and p99 latency per stage, in milliseconds."""
    ordered = sorted(stages, key=lambda s: s.p99)
    return _base(
        tooltip={"trigger": "axis", "axisPointer": {"type": "shadow"}},
        legend=_legend("p50", "p99"),
        grid={"left": 8, "right": 24, "top": 32, "bottom": 28, "containLabel": True},
        xAxis=_axis("value", name="ms", nameLocation="middle", nameGap=24),
        yAxis=_axis("category", data=[s.stage for s in ordered]),
        series=[
            {
                "name": "p50",
                "type": "bar",
                "color": "#38bdf8",
                "data": [round(s.p50, 2) for s in ordered],
            },
            {
                "name": "p99",
                "type": "bar",
                "color": "#a855f7",
                "data": [round(s.p99, 2) for s in ordered],
            },
        ],
    )


def open_alerts_by_age(groups: Sequence[AgeGroup]) -> Options:
    """Open alerts per age group, stacked review / block."""
    return _base(
        tooltip={"trigger": "axis", "axisPointer": {"type": "shadow"}},
        legend=_legend("review", "block"),
        xAxis=_axis("category", data=[g.label for g in groups]),
        yAxis=_axis("value", minInterval=1),
        series=[
            {
                "name": outcome,
                "type": "bar",
                "stack": "age",
                "color": OUTCOME_COLORS[outcome],
                "data": [getattr(g, outcome) for g in groups],
            }
            for outcome in ("review", "block")
        ],
    )


def contributions(named: Sequence[tuple[str, float]]) -> Options:
    """Feature contributions as diverging horizontal bars (red: towards fraud)."""
    ordered = sorted(named, key=lambda item: abs(item[1]))
    return _base(
        tooltip={"trigger": "axis", "axisPointer": {"type": "shadow"}},
        grid={"left": 8, "right": 32, "top": 8, "bottom": 8, "containLabel": True},
        xAxis=_axis("value"),
        yAxis=_axis("category", data=[name for name, _ in ordered]),
        series=[
            {
                "type": "bar",
                "data": [
                    {
                        "value": round(value, 4),
                        "itemStyle": {"color": "#ef4444" if value > 0 else "#22c55e"},
                    }
                    for _, value in ordered
                ],
                "label": {"show": True, "position": "right", "color": AXIS_GREY},
            }
        ],
    )
