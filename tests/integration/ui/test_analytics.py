"""Dashboard aggregates (storage.analytics) against PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel
from core.models import Outcome, RuleOutcome, RuleResult
from core.records import DecisionRecord
from storage.analytics import Analytics, TimeWindow
from storage.persist import insert_records
from storage.repository import AlertFilter, Repository

MakeRecord = Callable[..., DecisionRecord]
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # make_record's first event time; decided 5 ms later
HOUR = TimeWindow(since=T0, until=T0 + timedelta(hours=1), bucket=timedelta(minutes=15))


async def _store(engine: AsyncEngine, *records: DecisionRecord) -> None:
    async with engine.begin() as connection:
        await insert_records(connection, list(records))


@pytest.fixture
async def analytics(db_engine: AsyncEngine, make_record: MakeRecord) -> Analytics:
    """Thirty decisions t0..t29, one a minute from T0: outcome by i % 3 (allow, review, block)."""
    outcomes = [Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK]
    await _store(db_engine, *[make_record(i, outcomes[i % 3]) for i in range(30)])
    return Analytics(db_engine)


async def test_outcome_series_counts_each_bucket_and_fills_gaps(analytics: Analytics) -> None:
    """Two 15-minute buckets hold the 30 decisions; the two later ones are zeros."""
    series = await analytics.outcome_series(HOUR)
    assert [b.start for b in series] == [T0 + timedelta(minutes=15 * k) for k in range(4)]
    assert [(b.allow, b.review, b.block) for b in series] == [
        (5, 5, 5),
        (5, 5, 5),
        (0, 0, 0),
        (0, 0, 0),
    ]
    assert sum(b.total for b in series) == 30


async def test_score_histogram_puts_each_score_in_its_bin(analytics: Analytics) -> None:
    """Scores 0.1 / 0.6 / 0.9 land in bins [0.1, 0.15), [0.6, 0.65), [0.9, 0.95)."""
    bins = await analytics.score_histogram(HOUR)
    assert len(bins) == 20
    filled = {(b.lower, b.allow, b.review, b.block) for b in bins if b.allow + b.review + b.block}
    assert filled == {(0.1, 10, 0, 0), (0.6, 0, 10, 0), (0.9, 0, 0, 10)}


async def test_rule_activity_counts_hits_errors_and_last_hit(
    db_engine: AsyncEngine, analytics: Analytics, make_record: MakeRecord
) -> None:
    """Hits and errors are counted per rule; last_hit is the latest decision that hit."""
    failing = [RuleResult(rule_id="r_broken", outcome=RuleOutcome.ERROR, action=Outcome.BLOCK)]
    await _store(db_engine, make_record(40, rule_results=failing))
    window = TimeWindow(since=T0, until=T0 + timedelta(hours=2), bucket=timedelta(hours=1))
    activity = {a.rule_id: a for a in await analytics.rule_activity(window)}
    assert set(activity) == {"r_review", "r_block", "r_broken"}
    assert (activity["r_block"].hits, activity["r_block"].errors) == (10, 0)
    assert activity["r_block"].last_hit == T0 + timedelta(minutes=29, milliseconds=5)
    assert (activity["r_broken"].hits, activity["r_broken"].errors) == (0, 1)
    assert activity["r_broken"].last_hit is None


async def test_stage_latency_gives_percentiles_per_stage(
    db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """p50 and p99 are computed per stage from the decisions' latency maps."""
    records = [make_record(i, latency_ms={"total": float(i + 1), "rules": 0.5}) for i in range(100)]
    await _store(db_engine, *records)
    window = TimeWindow(since=T0, until=T0 + timedelta(hours=2), bucket=timedelta(hours=1))
    stages = {s.stage: s for s in await Analytics(db_engine).stage_latency(window)}
    assert stages["total"].p50 == pytest.approx(50.5)
    assert stages["total"].p99 == pytest.approx(99.01)
    assert stages["rules"].p99 == pytest.approx(0.5)
    assert stages["total"].count == 100


async def test_open_alerts_by_age_groups_only_open_alerts(
    db_engine: AsyncEngine, analytics: Analytics
) -> None:
    """Alerts 0-29 minutes old are < 1 h; closed ones are not counted."""
    repo = Repository(db_engine)
    page = await repo.list_alerts(AlertFilter(outcome=Outcome.BLOCK), limit=1)
    await repo.label_alert(page.items[0].id, AlertLabel.FRAUD, note=None, by="alice")
    groups = await analytics.open_alerts_by_age(T0 + timedelta(minutes=30))
    assert groups[0].label == "< 1 h"
    assert (groups[0].review, groups[0].block) == (10, 9)
    assert all(g.review == g.block == 0 for g in groups[1:])
    later = await analytics.open_alerts_by_age(T0 + timedelta(days=3))
    assert [(g.label, g.review, g.block) for g in later if g.review or g.block] == [
        ("1-7 d", 10, 9)
    ]


async def test_daily_summary_rolls_up_decisions_and_labels(
    db_engine: AsyncEngine, analytics: Analytics, make_record: MakeRecord
) -> None:
    """Each day gets its outcome counts, alert counts and labels; newest day first."""
    await _store(db_engine, make_record(24 * 60 + 1, Outcome.BLOCK))  # the next day
    repo = Repository(db_engine)
    first = (await repo.list_alerts(AlertFilter(account_id="acct2"), limit=1)).items[0]
    await repo.label_alert(first.id, AlertLabel.LEGIT, note="known customer", by="alice")
    days = await analytics.daily_summary(T0 - timedelta(days=1), T0 + timedelta(days=2))
    assert [d.day for d in days] == [date(2026, 1, 2), date(2026, 1, 1)]
    newest, oldest = days
    assert (newest.decisions, newest.block, newest.alerts, newest.open_alerts) == (1, 1, 1, 1)
    assert (oldest.decisions, oldest.allow, oldest.review, oldest.block) == (30, 10, 10, 10)
    assert (oldest.alerts, oldest.legit, oldest.fraud, oldest.open_alerts) == (20, 1, 0, 19)
    assert oldest.p99_total_ms == pytest.approx(4.2)


async def test_transactions_returns_the_stored_ones_by_id(
    analytics: Analytics, make_record: MakeRecord
) -> None:
    """Known ids map to their transactions; unknown ids are absent."""
    found = await analytics.transactions(["t1", "t2", "nope"])
    assert set(found) == {"t1", "t2"}
    assert found["t2"] == make_record(2, Outcome.BLOCK).transaction
    assert await analytics.transactions([]) == {}
