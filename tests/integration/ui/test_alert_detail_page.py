"""The alert detail page: explanation, labelling, closing and reopening (simulated browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from nicegui.testing import User
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel, AlertStatus
from core.models import Contribution, ModelScore, Outcome, RuleOutcome, RuleResult
from core.records import DecisionRecord
from storage.persist import insert_records
from tests.integration.ui.conftest import FakeGateway
from ui.services import UiServices

MakeRecord = Callable[..., DecisionRecord]
SignIn = Callable[..., Awaitable[None]]
TableRows = Callable[[User, str], list[dict[str, Any]]]


@pytest.fixture
async def stored(db_engine: AsyncEngine, make_record: MakeRecord) -> DecisionRecord:
    """A blocked transaction t7 of acct1 (with two earlier ones) hitting a real rule."""
    record = make_record(
        7,
        Outcome.BLOCK,
        account_id="acct1",
        rule_results=[
            RuleResult(
                rule_id="ato-country-hopping",
                outcome=RuleOutcome.HIT,
                action=Outcome.REVIEW,
                score=0.5,
            ),
            RuleResult(
                rule_id="r_gone",
                outcome=RuleOutcome.ERROR,
                action=Outcome.BLOCK,
                error="no such key: features.x",
            ),
            RuleResult(
                rule_id="card-testing-burst", outcome=RuleOutcome.NO_HIT, action=Outcome.REVIEW
            ),
        ],
        model_scores=[
            ModelScore(
                name="xgboost",
                score=0.93,
                contributions=[
                    Contribution(feature="amount_sum_by_account_1h", value=900.0, contribution=1.7),
                    Contribution(feature="txn_count_by_account_24h", value=1.0, contribution=-0.4),
                ],
            )
        ],
    )
    earlier = [make_record(i, Outcome.ALLOW, account_id="acct1") for i in (1, 4)]
    async with db_engine.begin() as connection:
        await insert_records(connection, [*earlier, record])
    return record


async def settle() -> None:
    """Let background tasks run."""
    await asyncio.sleep(0.3)


async def test_detail_explains_the_decision(
    user: User, analyst: str, sign_in: SignIn, stored: DecisionRecord, table_rows: TableRows
) -> None:
    """Rule results carry descriptions (hits first), features and versions are shown."""
    await sign_in(user, analyst, then="/alerts/t7")
    await user.should_see("BLOCK")
    await user.should_see("r_block hit")
    rules = table_rows(user, "rule-results")
    assert [r["rule"] for r in rules] == ["ato-country-hopping", "r_gone", "card-testing-burst"]
    assert rules[0]["outcome"] == "hit"
    assert rules[0]["description"] == "Payments from three or more countries within a day."
    assert rules[1]["error"] == "no such key: features.x"
    assert rules[1]["description"] == "(not in the active rule set)"
    features = table_rows(user, "features")
    assert features == [{"feature": "amount_sum_by_account_1h", "value": "25.5"}]
    await user.should_see("rs-1")
    await user.should_see("m-1")
    await user.should_see(marker="contributions-xgboost")
    assert len(user.find(marker="history-row").elements) == 2
    (current,) = user.find(marker="history-current").elements
    assert current.props["href"] == "/alerts/t7"


async def test_analyst_labels_the_alert_with_a_note(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    stored: DecisionRecord,
    services: UiServices,
    gateway: FakeGateway,
) -> None:
    """Saving 'fraud' with a note stores it as the analyst's, closes the alert, audits it and
    tells the live features through the gateway (the same event: transaction, label, time)."""
    await sign_in(user, analyst, then="/alerts/t7")
    user.find(marker="label-choice").elements.pop().value = "fraud"  # type: ignore[attr-defined]
    user.find(marker="label-note").type("card reported stolen")
    user.find(marker="save-label").click()
    await settle()
    alert = (await services.repository.get_decision("t7")).alert
    assert alert is not None
    assert (alert.label, alert.note, alert.labelled_by) == (
        AlertLabel.FRAUD,
        "card reported stolen",
        analyst,
    )
    assert alert.status is AlertStatus.CLOSED
    assert user.notify.contains("Labelled fraud.")
    entry = (await services.users.audit_log(actor=analyst))[0]
    assert (entry.action, entry.target, entry.details["label"]) == (
        "alert_labelled",
        f"alert:{alert.id}",
        "fraud",
    )
    await user.should_see(marker="reopen-alert")
    assert alert.labelled_at is not None
    assert gateway.labels == [
        {
            "transaction_id": "t7",
            "label": "fraud",
            "known_at": alert.labelled_at.isoformat(),
            "source": "analyst",
        }
    ]


async def test_a_verdict_is_saved_when_the_engine_is_unreachable(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    stored: DecisionRecord,
    services: UiServices,
    gateway: FakeGateway,
) -> None:
    """No gateway: the verdict is stored and the page says the live features were not told."""
    gateway.reachable = False
    await sign_in(user, analyst, then="/alerts/t7")
    user.find(marker="label-choice").elements.pop().value = "legit"  # type: ignore[attr-defined]
    user.find(marker="save-label").click()
    await settle()
    alert = (await services.repository.get_decision("t7")).alert
    assert alert is not None
    assert alert.label is AlertLabel.LEGIT
    assert user.notify.contains("Labelled legit.")
    assert user.notify.contains("live features were not told")


async def test_saving_without_a_verdict_is_refused(
    user: User, analyst: str, sign_in: SignIn, stored: DecisionRecord, services: UiServices
) -> None:
    """The label needs a choice; nothing is stored without one."""
    await sign_in(user, analyst, then="/alerts/t7")
    user.find(marker="save-label").click()
    await settle()
    assert user.notify.contains("Choose Fraud or Legit first.")
    alert = (await services.repository.get_decision("t7")).alert
    assert alert is not None
    assert alert.label is None


async def test_close_and_reopen(
    user: User, analyst: str, sign_in: SignIn, stored: DecisionRecord, services: UiServices
) -> None:
    """Close then reopen change the alert's status; both are audited."""
    await sign_in(user, analyst, then="/alerts/t7")
    user.find(marker="close-alert").click()
    await settle()
    alert = (await services.repository.get_decision("t7")).alert
    assert alert is not None
    assert alert.status is AlertStatus.CLOSED
    user.find(marker="reopen-alert").click()
    await settle()
    alert = (await services.repository.get_decision("t7")).alert
    assert alert is not None
    assert alert.status is AlertStatus.OPEN
    actions = [e.action for e in await services.users.audit_log(actor=analyst)]
    assert actions[:2] == ["alert_reopened", "alert_closed"]


async def test_action_after_the_session_ended_is_refused(
    user: User, analyst: str, sign_in: SignIn, stored: DecisionRecord, services: UiServices
) -> None:
    """A page left open after its account was disabled cannot label."""
    await sign_in(user, analyst, then="/alerts/t7")
    await services.users.set_disabled(analyst, disabled=True)
    user.find(marker="label-choice").elements.pop().value = "legit"  # type: ignore[attr-defined]
    user.find(marker="save-label").click()
    await settle()
    alert = (await services.repository.get_decision("t7")).alert
    assert alert is not None
    assert alert.label is None
    assert user.notify.contains("Your session has ended")


async def test_unknown_transaction_says_so(
    user: User, analyst: str, sign_in: SignIn, services: UiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that never gets stored ends in 'no decision' after the retries."""
    from ui.pages import alert_detail  # noqa: PLC0415

    monkeypatch.setattr(alert_detail, "RETRY_S", 0.01)
    monkeypatch.setattr(alert_detail, "RETRIES", 2)
    await sign_in(user, analyst, then="/alerts/nope")
    await user.should_see(marker="not-found", retries=50)
