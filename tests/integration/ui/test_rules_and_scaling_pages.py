"""Rules (validate, publish, rollout) and Scaling pages (simulated browser, fake gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nicegui.testing import User

from rules.loader import read_rule_sources
from ui.services import UiServices

SignIn = Callable[..., Awaitable[None]]
TableRows = Callable[[User, str], list[dict[str, Any]]]
BROKEN_RULES = """
  - id: too-big
    description: A score outside [0, 1].
    when: txn.amount > 10.0
    action: block
    score: 3
  - id: int-vs-double
    description: Compares a double with an int.
    when: txn.amount > 10
    action: block
    score: 0.3
"""
NEW_RULE = """
  - id: huge-payment
    description: Any payment over one million.
    when: txn.amount > 1000000.0
    action: review
    score: 0.4
"""


def editor_value(user: User) -> str:
    """The text in the rule editor."""
    (editor,) = user.find(marker="editor").elements
    return str(editor.value)  # type: ignore[attr-defined]


def set_editor(user: User, text: str) -> None:
    """Replace the text in the rule editor."""
    (editor,) = user.find(marker="editor").elements
    editor.value = text  # type: ignore[attr-defined]


async def settle() -> None:
    """Let background tasks run."""
    await asyncio.sleep(0.3)


async def test_rules_page_lists_the_active_rules(
    *, user: User, analyst: str, sign_in: SignIn, table_rows: TableRows, rules_dir: Path
) -> None:
    """Every rule of the set is listed with its file; the version matches the files'."""
    await sign_in(user, analyst, then="/rules")
    rows = table_rows(user, "rules-table")
    assert len(rows) >= 10
    hopping = next(r for r in rows if r["id"] == "ato-country-hopping")
    assert (hopping["file"], hopping["hits"], hopping["last_hit"]) == (
        "account_takeover.yaml",
        0,
        "—",
    )
    await user.should_see(f"version {read_rule_sources(rules_dir).version}")


async def test_validate_shows_loader_errors_with_line_and_column(
    *, user: User, analyst: str, sign_in: SignIn, rules_dir: Path
) -> None:
    """A bad edit lists each problem as file:line:col, marks the line, and writes nothing."""
    await sign_in(user, analyst, then="/rules")
    before = (rules_dir / "account_takeover.yaml").read_text()
    set_editor(user, editor_value(user) + BROKEN_RULES)
    user.find(marker="validate").click()
    await settle()
    await user.should_see(marker="validation-failed")
    problems = [str(e.text) for e in user.find(marker="problem").elements]  # type: ignore[attr-defined]
    line = len(before.splitlines()) + 6  # the `score: 3` line of the first appended rule
    assert any(p.startswith(f"account_takeover.yaml:{line}:") for p in problems), problems
    assert any(
        f"account_takeover.yaml:{line + 3}:" in p and "int and double" in p for p in problems
    ), problems
    (editor,) = user.find(marker="editor").elements
    assert {"kind": "line", "line": line, "class": "vigil-problem-line"} in editor.decorations  # type: ignore[attr-defined]
    assert (rules_dir / "account_takeover.yaml").read_text() == before


async def test_analyst_cannot_publish(
    *, user: User, analyst: str, sign_in: SignIn, rules_dir: Path
) -> None:
    """The publish button is disabled for analysts."""
    await sign_in(user, analyst, then="/rules")
    (button,) = user.find(marker="publish").elements
    assert not button.enabled  # type: ignore[attr-defined]


async def test_admin_publishes_and_sees_every_replica_report_it(
    *,
    user: User,
    admin: str,
    sign_in: SignIn,
    rules_dir: Path,
    services: UiServices,
    gateway: Any,
) -> None:
    """Publishing writes the file, is audited, and waits until both replicas load it."""
    gateway.versions = {"rules#1": "old", "rules#2": "old"}
    gateway.follow_publishes = lambda: read_rule_sources(rules_dir).version
    await sign_in(user, admin, then="/rules")
    user.find(marker="rule-file").elements.pop().value = "velocity.yaml"  # type: ignore[attr-defined]
    await settle()
    set_editor(user, editor_value(user) + NEW_RULE)
    user.find(marker="publish").click()
    await user.should_see("Every replica (2) now scores with", retries=30)
    assert "huge-payment" in (rules_dir / "velocity.yaml").read_text()
    version = read_rule_sources(rules_dir).version
    entry = (await services.users.audit_log(actor=admin))[0]
    assert (entry.action, entry.target, entry.details["version"]) == (
        "rules_published",
        "rules:velocity.yaml",
        version,
    )
    names = await asyncio.to_thread(lambda: [p.name for p in rules_dir.iterdir()])
    assert not [name for name in names if name.startswith(".")]  # no temporary file left


async def test_publish_with_the_gateway_down_says_it_cannot_confirm(
    *, user: User, admin: str, sign_in: SignIn, rules_dir: Path, gateway: Any
) -> None:
    """The file is written; the page says the rollout cannot be confirmed."""
    gateway.reachable = False
    await sign_in(user, admin, then="/rules")
    await user.should_see(marker="gateway-unreachable")
    set_editor(user, editor_value(user) + NEW_RULE)
    user.find(marker="publish").click()
    await user.should_see("cannot confirm the rollout", retries=30)
    assert "huge-payment" in (rules_dir / "account_takeover.yaml").read_text()


async def test_scaling_lists_deployments_and_admin_scales(
    *, user: User, admin: str, sign_in: SignIn, gateway: Any, services: UiServices
) -> None:
    """Deployments show replicas and Serve's message; Apply asks the gateway and is audited."""
    await sign_in(user, admin, then="/scaling")
    await user.should_see("2 / 2 replicas running")
    await user.should_see("Upscaling from 1 to 2 replicas.")
    (number,) = user.find(marker="replicas-rules").elements
    number.value = 3  # type: ignore[attr-defined]
    user.find(marker="scale-rules").click()
    await settle()
    assert gateway.scaled == [("rules", 3)]
    entry = (await services.users.audit_log(actor=admin))[0]
    assert (entry.action, entry.details) == ("deployment_scaled", {"replicas": 3})


async def test_scaling_rejects_a_bad_replica_count(
    *, user: User, admin: str, sign_in: SignIn, gateway: Any
) -> None:
    """Zero replicas is refused before anything is sent."""
    await sign_in(user, admin, then="/scaling")
    await user.should_see(marker="replicas-rules")
    (number,) = user.find(marker="replicas-rules").elements
    number.value = 0  # type: ignore[attr-defined]
    user.find(marker="scale-rules").click()
    await settle()
    assert gateway.scaled == []
    assert user.notify.contains("must be between 1 and 64")


async def test_analyst_cannot_scale(
    *, user: User, analyst: str, sign_in: SignIn, gateway: Any
) -> None:
    """Scaling controls are disabled for analysts."""
    await sign_in(user, analyst, then="/scaling")
    await user.should_see(marker="scale-rules")
    (button,) = user.find(marker="scale-rules").elements
    assert not button.enabled  # type: ignore[attr-defined]


async def test_scaling_says_when_the_gateway_is_unreachable(
    *, user: User, analyst: str, sign_in: SignIn, gateway: Any
) -> None:
    """A refused connection shows the unreachable banner."""
    gateway.reachable = False
    await sign_in(user, analyst, then="/scaling")
    await user.should_see("Gateway unreachable")
    await user.should_see("is unreachable")
