"""Overview, daily summary, models and audit pages (simulated browser, real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy.ext.asyncio import AsyncEngine

from core.models import Outcome
from core.records import DecisionRecord
from storage.persist import insert_records
from ui.services import UiServices

MakeRecord = Callable[..., DecisionRecord]
SignIn = Callable[..., Awaitable[None]]
TableRows = Callable[[User, str], list[dict[str, Any]]]


@pytest.fixture
async def recent(db_engine: AsyncEngine, make_record: MakeRecord) -> list[DecisionRecord]:
    """Twelve decisions in the last half hour: outcome by i % 3 (allow, review, block)."""
    now = datetime.now(UTC)
    outcomes = [Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK]
    records = [
        make_record(
            i,
            outcomes[i % 3],
            timestamp=now - timedelta(minutes=2 * i + 1),
            decided_at=now - timedelta(minutes=2 * i + 1),
            latency_ms={"total": 10.0 + i, "rules": 0.2},
        )
        for i in range(12)
    ]
    async with db_engine.begin() as connection:
        await insert_records(connection, records)
    return records


def label_text(user: User, marker: str) -> str:
    """The text of the one label marked ``marker``."""
    (element,) = user.find(marker=marker).elements
    return str(element.text)  # type: ignore[attr-defined]


async def test_overview_shows_kpis_and_charts(
    user: User, analyst: str, sign_in: SignIn, recent: list[DecisionRecord]
) -> None:
    """The last hour's decisions, alert rate, blocks and p99 show, and every chart has data."""
    await sign_in(user, analyst, then="/overview")
    await user.should_see("Decisions per minute")
    assert label_text(user, "kpi-decisions") == "12"
    assert label_text(user, "kpi-alert-rate") == "66.7%"
    assert label_text(user, "kpi-blocks") == "4"
    assert label_text(user, "kpi-open") == "8"
    assert label_text(user, "kpi-p99").endswith("ms")
    (rules,) = user.find(marker="chart-rules").elements
    assert rules.options["yAxis"]["data"] == ["r_review", "r_block"]  # type: ignore[attr-defined]
    assert rules.options["series"][0]["data"] == [4, 4]  # type: ignore[attr-defined]
    (latency,) = user.find(marker="chart-latency").elements
    assert set(latency.options["yAxis"]["data"]) == {"rules", "total"}  # type: ignore[attr-defined]
    assert len(user.find(ui.echart).elements) == 6


async def test_overview_range_switch_rereads(
    user: User, analyst: str, sign_in: SignIn, recent: list[DecisionRecord]
) -> None:
    """Switching to 15 minutes counts only the decisions of the last 15 minutes."""
    await sign_in(user, analyst, then="/overview")
    (toggle,) = user.find(marker="range").elements
    toggle.value = 900  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    assert label_text(user, "kpi-decisions") == "7"  # minutes 1, 3, ..., 13; 15 is just outside


async def test_overview_queries_are_shared_between_tabs(
    user: User, analyst: str, sign_in: SignIn, recent: list[DecisionRecord], services: UiServices
) -> None:
    """Two tabs opened within the refresh interval cause one load of the figures."""
    await sign_in(user, analyst, then="/overview")
    loads = services.reads.loads
    await user.open("/overview")
    assert services.reads.loads == loads


async def test_daily_summary_counts_decisions_and_alerts(
    user: User, analyst: str, sign_in: SignIn, recent: list[DecisionRecord], table_rows: TableRows
) -> None:
    """The days' rows add up to every decision, review, block and open alert."""
    await sign_in(user, analyst, then="/daily")
    await asyncio.sleep(0.2)
    rows = table_rows(user, "daily-table")
    assert rows[0]["day"] == max(r["day"] for r in rows)
    totals = [sum(r[k] for r in rows) for k in ("decisions", "allow", "review", "block")]
    assert totals == [12, 4, 4, 4]
    assert sum(r["open_alerts"] for r in rows) == 8


async def test_models_page_shows_the_artifact(user: User, analyst: str, sign_in: SignIn) -> None:
    """The shipped artifact's version, metrics for three scores and its plots are shown."""
    await sign_in(user, analyst, then="/models")
    await user.should_see("xgb-if-")
    (table,) = user.find(marker="metrics").elements
    scores = [row["score"] for row in table.rows]  # type: ignore[attr-defined]
    assert scores == ["XGBoost", "Isolation Forest", "Ensemble (decides)"]
    await user.should_see(marker="plot-roc_curve")
    await user.should_see("no decisions yet")
    await user.should_see(marker="registry-empty")
    await user.should_see(marker="shadow-empty")


async def test_models_page_shows_the_registry_and_the_shadow_comparison(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    services: UiServices,
    db_engine: AsyncEngine,
    make_record: MakeRecord,
    table_rows: TableRows,
) -> None:
    """Registered versions with their roles, and champion vs challenger on labelled rows."""
    from cli.registry_commands import registry_entry  # noqa: PLC0415
    from config.settings import REPO_DIR  # noqa: PLC0415
    from core.alerts import AlertLabel  # noqa: PLC0415
    from core.models import ModelScore  # noqa: PLC0415
    from core.records import ShadowScore  # noqa: PLC0415
    from features.spec import default_feature_set  # noqa: PLC0415
    from storage.labels import LabelStore, NewLabel  # noqa: PLC0415

    entry = registry_entry(REPO_DIR / "artifacts" / "default", default_feature_set())
    await services.registry.register(entry, by="alice")
    await services.registry.promote(entry.version, by="alice")
    records = [
        msgspec.structs.replace(
            make_record(
                i,
                Outcome.REVIEW if i == 0 else Outcome.ALLOW,
                model_scores=[ModelScore(name="ensemble", score=0.5 - 0.1 * i)],
            ),
            shadow=ShadowScore(model_version="challenger-9", risk=0.9 - 0.1 * i),
        )
        for i in range(3)
    ]
    async with db_engine.begin() as connection:
        await insert_records(connection, records)
    known = records[0].transaction.timestamp + timedelta(days=1)
    await LabelStore(db_engine).record(
        [
            NewLabel(r.transaction.transaction_id, label, known, "chargeback")
            for r, label in zip(
                records, [AlertLabel.FRAUD, AlertLabel.FRAUD, AlertLabel.LEGIT], strict=True
            )
        ],
        by="alice",
    )
    await sign_in(user, analyst, then="/models")
    registry = table_rows(user, "registry-table")
    assert [(r["version"], r["role"]) for r in registry] == [(entry.version, "champion")]
    assert registry[0]["ap"] == "0.890"
    shadow = table_rows(user, "shadow-table")
    assert [(r["role"], r["version"]) for r in shadow][1] == ("challenger", "challenger-9")
    assert shadow[1]["recall"] == "0.500"  # one alert raised: the challenger's top row is fraud
    await user.should_see("3 labelled transactions, 2 fraud")


async def test_admin_sees_the_audit_log(
    user: User, admin: str, sign_in: SignIn, services: UiServices, table_rows: TableRows
) -> None:
    """Recorded actions appear with who did them."""
    await services.users.record("alice", "alert_labelled", "alert:7", {"label": "fraud"})
    await sign_in(user, admin, then="/audit")
    rows = table_rows(user, "audit-table")
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("root-admin", "signed in", "user:root-admin"),
        ("alice", "alert labelled", "alert:7"),
    ]
