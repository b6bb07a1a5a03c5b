"""Pure presentation helpers: formats, table rows, KPIs, chart options, CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from core.alerts import AlertLabel, AlertStatus
from core.models import Outcome
from storage.analytics import (
    AgeGroup,
    DailySummary,
    OutcomeBucket,
    RuleActivity,
    ScoreBin,
    StageLatency,
    TimeWindow,
)
from ui import charts
from ui.format import ago, alert_row, milliseconds, money, span
from ui.live import AlertItem
from ui.pages.daily import summary_csv, summary_row
from ui.pages.overview import Snapshot, kpis
from ui.pages.scaling import replica_problem

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_money_scores_and_durations_read_naturally() -> None:
    """Amounts get separators and currency; latency switches to seconds from 1000 ms."""
    assert money(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert money(None, None) == "—"
    assert milliseconds(12.345) == "12.3 ms"
    assert milliseconds(1500.0) == "1.50 s"
    assert span(timedelta(minutes=15)) == "15 min"
    assert span(timedelta(days=7)) == "7 d"


def test_ago_counts_back_from_now() -> None:
    """Seconds, minutes, hours, days; the future reads as 0 s."""
    assert ago(T0 - timedelta(seconds=5), T0) == "5 s ago"
    assert ago(T0 - timedelta(minutes=3), T0) == "3 min ago"
    assert ago(T0 - timedelta(hours=5), T0) == "5 h ago"
    assert ago(T0 - timedelta(days=2), T0) == "2 d ago"
    assert ago(T0 + timedelta(seconds=5), T0) == "0 s ago"


def test_alert_row_marks_outcome_and_novelty() -> None:
    """A pushed block row carries its outcome class and the flash class."""
    item = AlertItem(
        transaction_id="t1",
        alert_id=None,
        account_id="a",
        amount=Decimal("9.99"),
        currency="USD",
        merchant_id="m",
        country="US",
        outcome=Outcome.BLOCK,
        risk_score=0.91,
        top_reason="r hit",
        rule_hits=("r",),
        status=AlertStatus.OPEN,
        label=AlertLabel.FRAUD,
        created_at=T0,
    )
    row = alert_row(item, pushed=True)
    assert row["row_class"] == "vigil-row-block vigil-row-new"
    assert (row["amount"], row["score_pct"], row["label"], row["time"]) == (
        "9.99 USD",
        "91.0%",
        "fraud",
        "2026-03-01 12:00:00",
    )
    assert alert_row(item, pushed=False)["row_class"] == "vigil-row-block"


def snapshot() -> Snapshot:
    """An hour with 100 decisions: 90 allow, 6 review, 4 block."""
    window = TimeWindow(since=T0, until=T0 + timedelta(hours=1), bucket=timedelta(minutes=30))
    return Snapshot(
        window=window,
        series=[OutcomeBucket(T0, 40, 3, 2), OutcomeBucket(T0 + timedelta(minutes=30), 50, 3, 2)],
        scores=[ScoreBin(0.0, 0.5, 90, 0, 0), ScoreBin(0.5, 1.0, 0, 6, 4)],
        rules=[RuleActivity("r1", 7, 0, T0), RuleActivity("r2", 9, 1, T0)],
        latency=[StageLatency("total", 5.0, 20.0, 100), StageLatency("rules", 0.1, 0.4, 100)],
        ages=[AgeGroup("< 1 h", 3, 2)],
    )


def test_kpis_summarise_the_window() -> None:
    """Decisions, rate per minute, alert rate, blocks, p99 and open alerts."""
    values = {mark: value for _label, value, mark in kpis(snapshot())}
    assert values == {
        "kpi-decisions": "100",
        "kpi-rate": "1.7",
        "kpi-alert-rate": "10.0%",
        "kpi-reviews": "6",
        "kpi-blocks": "4",
        "kpi-p99": "20.0 ms",
        "kpi-open": "5",
    }


def test_chart_options_carry_the_figures() -> None:
    """Rates per minute, shares, top rules (most on top) and latency bars."""
    data = snapshot()
    rate = charts.decisions_per_minute(data.series, data.window.bucket)
    assert [s["name"] for s in rate["series"]] == ["allow", "review", "block"]
    assert rate["series"][2]["data"] == [round(2 / 30, 2), round(2 / 30, 2)]
    share = charts.alert_share(data.series, data.window.bucket)
    assert share["series"][1]["data"] == [round(100 * 2 / 45, 2), round(100 * 2 / 55, 2)]
    top = charts.top_rules(data.rules)
    assert top["yAxis"]["data"] == ["r1", "r2"]
    assert charts.score_distribution(data.scores)["series"][0]["data"] == [90, None]
    assert charts.stage_latency(data.latency)["yAxis"]["data"] == ["rules", "total"]
    bars = charts.contributions([("a", 0.5), ("b", -1.0)])["series"][0]["data"]
    assert [b["itemStyle"]["color"] for b in bars] == ["#ef4444", "#22c55e"]


def test_daily_rows_and_csv() -> None:
    """A day's alert rate is computed; the CSV has raw numbers."""
    day = DailySummary(
        day=date(2026, 3, 1),
        decisions=200,
        allow=180,
        review=15,
        block=5,
        degraded=0,
        mean_risk=0.12,
        p99_total_ms=None,
        alerts=20,
        open_alerts=3,
        fraud=4,
        legit=9,
    )
    row = summary_row(day)
    assert (row["alert_rate"], row["p99"]) == ("10.00%", "—")
    lines = summary_csv([day]).splitlines()
    assert lines[0].startswith("day,decisions,allow")
    assert lines[1] == "2026-03-01,200,180,15,5,20,3,4,9,0.120000,,0"


def test_replica_counts_are_checked() -> None:
    """Whole numbers from 1 to 64 pass; anything else says why not."""
    assert replica_problem(3) is None
    assert replica_problem(3.0) is None
    assert replica_problem(0) == "must be between 1 and 64"
    assert replica_problem(2.5) == "must be a whole number"
    assert replica_problem(None) == "enter a number of replicas"
