"""Signing in, signing out and pages that require a session (simulated browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from nicegui.testing import User

from ui.services import UiServices

SignIn = Callable[..., Awaitable[None]]
PAGES = ["/alerts", "/alerts/t1", "/overview", "/daily", "/rules", "/models", "/scaling", "/audit"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_requires_sign_in(user: User, path: str) -> None:
    """Without a session each page redirects to the sign-in form."""
    await user.open(path)
    await user.should_see("Sign in")
    await user.should_see(marker="password")
    assert user.back_history[-1] == path  # the redirect landed on the form, which returns here


async def test_sign_in_returns_to_the_requested_page(
    user: User, analyst: str, sign_in: SignIn
) -> None:
    """After signing in the analyst lands on the page they asked for, with their name shown."""
    await sign_in(user, analyst, then="/overview")
    assert user.back_history[-1] == "/overview"
    await user.should_see("Overview")
    await user.should_see("Alice")


async def test_wrong_password_is_refused(user: User, analyst: str) -> None:
    """A wrong password shows an error and no session starts."""
    await user.open("/login")
    user.find(marker="username").type(analyst)
    user.find(marker="password").type("not the password")
    user.find(marker="sign-in").click()
    await user.should_see("Unknown username or wrong password.")
    await user.open("/alerts")
    await user.should_see(marker="password")


async def test_repeated_failures_are_throttled(user: User, analyst: str) -> None:
    """After five failures even the right password must wait."""
    await user.open("/login")
    user.find(marker="username").type(analyst)
    password = next(iter(user.find(marker="password").elements))
    for _ in range(5):
        user.find(marker="password").type("wrong wrong wrong")
        user.find(marker="sign-in").click()
        for _ in range(100):  # the form clears the password once the attempt has failed
            if not password.value:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.02)
    user.find(marker="password").type("correct horse battery")
    user.find(marker="sign-in").click()
    await user.should_see("Too many failed attempts")


async def test_sign_out_ends_the_session(
    user: User, analyst: str, sign_in: SignIn, services: UiServices
) -> None:
    """Signing out returns to the form; pages then require signing in again."""
    await sign_in(user, analyst)
    await user.open("/logout")
    await user.should_see(marker="password")
    await user.open("/alerts")
    await user.should_see(marker="password")
    actions = [e.action for e in await services.users.audit_log(actor=analyst)]
    assert actions == ["signed_in"]


async def test_disabled_account_loses_access_at_once(
    user: User, analyst: str, sign_in: SignIn, services: UiServices
) -> None:
    """Disabling an account ends its live session on the next page load."""
    await sign_in(user, analyst)
    await services.users.set_disabled(analyst, disabled=True)
    await user.open("/alerts")
    await user.should_see(marker="password")


async def test_login_never_redirects_off_site(user: User, analyst: str, sign_in: SignIn) -> None:
    """A foreign ``next`` target is replaced by the alerts page."""
    await sign_in(user, analyst, then="//evil.example/x")
    assert user.back_history[-1] == "/alerts"


async def test_analyst_cannot_open_the_audit_log(user: User, analyst: str, sign_in: SignIn) -> None:
    """The audit log needs the admin role."""
    await sign_in(user, analyst, then="/audit")
    await user.should_see("Audit log needs the admin role")
