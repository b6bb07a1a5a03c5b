"""The live alerts page: history, filters, pushed alerts, pause, paging (simulated browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from nicegui.testing import User
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel
from core.models import Outcome
from core.records import DecisionRecord
from storage.persist import insert_records
from storage.repository import AlertFilter
from ui.live import item_from_record
from ui.services import UiConfig, UiServices

MakeRecord = Callable[..., DecisionRecord]
SignIn = Callable[..., Awaitable[None]]
TableRows = Callable[[User, str], list[dict[str, Any]]]


@pytest.fixture
def ui_config() -> UiConfig:
    """Small pages and a small browser-side limit, so paging and bounds show with few rows."""
    return UiConfig(max_rows=6, page_size=4)


def at(minutes_ago: float) -> dict[str, datetime]:
    """Overrides placing a record ``minutes_ago`` before the call (a long suite gets here late)."""
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return {"timestamp": when, "decided_at": when}


async def store(engine: AsyncEngine, records: list[DecisionRecord]) -> None:
    """Write records as the stream writer would."""
    async with engine.begin() as connection:
        await insert_records(connection, records)


@pytest.fixture
async def history(db_engine: AsyncEngine, make_record: MakeRecord) -> list[DecisionRecord]:
    """Six decisions a minute apart (t1 newest): t1, t3, t5 block; t2, t4 review; t6 allow."""
    outcomes = {
        1: Outcome.BLOCK,
        2: Outcome.REVIEW,
        3: Outcome.BLOCK,
        4: Outcome.REVIEW,
        5: Outcome.BLOCK,
        6: Outcome.ALLOW,
    }
    records = [
        make_record(
            i,
            outcome,
            account_id=f"acct{i % 2}",
            amount=Decimal(f"{i}00.00"),
            merchant_id=f"shop{i}",
            country="DE" if i < 3 else "FR",
            **at(i),
        )
        for i, outcome in outcomes.items()
    ]
    await store(db_engine, records)
    return records


async def settle() -> None:
    """Let background tasks (navigation, reloads, redraw timers) run."""
    await asyncio.sleep(0.35)


async def test_history_lists_alerts_newest_first_with_transaction_details(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
) -> None:
    """Stored alerts appear newest first (page size 4) with amount, merchant and country."""
    await sign_in(user, analyst)
    rows = table_rows(user, "alerts-table")
    assert [r["transaction_id"] for r in rows] == ["t1", "t2", "t3", "t4"]
    first = rows[0]
    assert (first["amount"], first["merchant"], first["country"]) == ("100.00 EUR", "shop1", "DE")
    assert (first["outcome"], first["status"], first["new"]) == ("block", "open", False)
    assert first["reason"] == "r_block hit"


async def test_outcome_and_account_filters_select_matching_alerts(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
) -> None:
    """Choosing 'block' shows blocks only; adding an account narrows further."""
    await sign_in(user, analyst)
    user.find(marker="filter-outcome").elements.pop().value = "block"  # type: ignore[attr-defined]
    await settle()
    assert [r["transaction_id"] for r in table_rows(user, "alerts-table")] == ["t1", "t3", "t5"]
    user.find(marker="filter-account").type("acct0")
    await settle()
    assert table_rows(user, "alerts-table") == []
    user.find(marker="filter-account").clear().type("acct1")
    await settle()
    assert [r["transaction_id"] for r in table_rows(user, "alerts-table")] == ["t1", "t3", "t5"]


async def test_rule_status_and_score_filters(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
    services: UiServices,
) -> None:
    """Rule hit, closed status and a score range each select the matching alerts."""
    page = await services.repository.list_alerts(AlertFilter(account_id="acct0"), limit=10)
    t2 = next(a for a in page.items if a.transaction_id == "t2")
    await services.repository.label_alert(t2.id, AlertLabel.LEGIT, note=None, by="alice")
    await sign_in(user, analyst)
    user.find(marker="filter-rule").type("r_review")
    await settle()
    assert [r["transaction_id"] for r in table_rows(user, "alerts-table")] == ["t2", "t4"]
    user.find(marker="filter-status").elements.pop().value = "closed"  # type: ignore[attr-defined]
    await settle()
    rows = table_rows(user, "alerts-table")
    assert [(r["transaction_id"], r["label"]) for r in rows] == [("t2", "legit")]
    user.find(marker="filter-rule").clear()
    user.find(marker="filter-status").elements.pop().value = ""  # type: ignore[attr-defined]
    score = user.find(marker="filter-score").elements.pop()
    score.value = {"min": 0.8, "max": 1.0}  # type: ignore[attr-defined]
    user.find(marker="filter-score").trigger("change")
    await settle()
    assert [r["transaction_id"] for r in table_rows(user, "alerts-table")] == ["t1", "t3", "t5"]


async def test_time_range_filter_excludes_older_alerts(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    db_engine: AsyncEngine,
    make_record: MakeRecord,
    table_rows: TableRows,
) -> None:
    """'Last 15 min' hides an alert from two days ago."""
    await store(
        db_engine,
        [make_record(1, Outcome.BLOCK, **at(5)), make_record(2, Outcome.BLOCK, **at(2 * 24 * 60))],
    )
    await sign_in(user, analyst)
    assert len(table_rows(user, "alerts-table")) == 2
    user.find(marker="filter-time").elements.pop().value = 900  # type: ignore[attr-defined]
    shown: list[str] = []
    for _ in range(20):  # the reload runs in the background; a loaded machine takes longer
        await settle()
        shown = [r["transaction_id"] for r in table_rows(user, "alerts-table")]
        if shown == ["t1"]:
            break
    assert shown == ["t1"]


async def test_pushed_alert_appears_highlighted_without_reload(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
    services: UiServices,
    make_record: MakeRecord,
) -> None:
    """An alert pushed by the feed is added on top and marked new; an allow never is."""
    await sign_in(user, analyst)
    new = make_record(90, Outcome.REVIEW, **at(0))
    item = item_from_record(new)
    assert item is not None
    assert item_from_record(make_record(91, Outcome.ALLOW)) is None
    services.hub.publish([item])
    await settle()
    rows = table_rows(user, "alerts-table")
    assert rows[0]["transaction_id"] == "t90"
    assert rows[0]["new"] is True
    assert "vigil-row-new" in rows[0]["row_class"]
    assert [r["transaction_id"] for r in rows[1:]] == ["t1", "t2", "t3", "t4"]


async def test_pushed_alerts_respect_the_filters_and_the_row_limit(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
    services: UiServices,
    make_record: MakeRecord,
) -> None:
    """With 'block' chosen a pushed review is ignored; the table never exceeds max_rows."""
    await sign_in(user, analyst)
    user.find(marker="filter-outcome").elements.pop().value = "block"  # type: ignore[attr-defined]
    await settle()
    pushed = [item_from_record(make_record(100 + i, Outcome.BLOCK, **at(0))) for i in range(5)]
    review = item_from_record(make_record(200, Outcome.REVIEW, **at(0)))
    services.hub.publish([i for i in [*pushed, review] if i is not None])
    await settle()
    ids = [r["transaction_id"] for r in table_rows(user, "alerts-table")]
    assert len(ids) == 6
    assert "t200" not in ids
    assert set(ids) >= {f"t{100 + i}" for i in range(5)}


async def test_paused_feed_counts_alerts_and_shows_them_on_resume(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
    services: UiServices,
    make_record: MakeRecord,
) -> None:
    """While paused a pushed alert only raises the counter; resuming shows it."""
    await sign_in(user, analyst)
    user.find(marker="pause").click()
    await settle()
    item = item_from_record(make_record(90, Outcome.BLOCK, **at(0)))
    assert item is not None
    services.hub.publish([item])
    await settle()
    assert "t90" not in [r["transaction_id"] for r in table_rows(user, "alerts-table")]
    await user.should_see("1 new")
    user.find(marker="pause").click()
    await settle()
    assert table_rows(user, "alerts-table")[0]["transaction_id"] == "t90"


async def test_paging_walks_through_history(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
) -> None:
    """'Older' shows the next page; 'Newer' comes back."""
    await sign_in(user, analyst)
    user.find(marker="older").click()
    await settle()
    assert [r["transaction_id"] for r in table_rows(user, "alerts-table")] == ["t5"]
    await user.should_see("viewing history")
    user.find(marker="newer").click()
    await settle()
    assert [r["transaction_id"] for r in table_rows(user, "alerts-table")] == [
        "t1",
        "t2",
        "t3",
        "t4",
    ]


async def test_a_label_elsewhere_updates_the_row(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    history: list[DecisionRecord],
    table_rows: TableRows,
    services: UiServices,
) -> None:
    """When an alert is labelled in this process its row shows the new status and label."""
    await sign_in(user, analyst)
    page = await services.repository.list_alerts(AlertFilter(account_id="acct1"), limit=1)
    labelled = await services.repository.label_alert(
        page.items[0].id, AlertLabel.FRAUD, note=None, by="bob"
    )
    services.hub.changed(labelled)
    await settle()
    row = table_rows(user, "alerts-table")[0]
    assert (row["transaction_id"], row["status"], row["label"]) == ("t1", "closed", "fraud")
