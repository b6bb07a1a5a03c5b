"""Who is using the app: sessions in pages and actions, role checks, sign-in throttling.

A browser holds only an opaque session token, kept in NiceGUI's server-side user storage (under
the signed session cookie). Every page load *and every action* resolves the token again through
:class:`storage.users.UserStore`, so an expired, signed-out or disabled session stops working
at once, and roles are checked where the action happens, not only when the page was drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from storage.users import Role, User, UserStore

SESSION_KEY: Final = "vigil_session"
LOGIN_PATH: Final = "/login"
DEFAULT_PAGE: Final = "/alerts"


def safe_next(target: str | None) -> str:
    """``target`` if it is an absolute path of this app, else the default page (no open redirect).

    A path starts with exactly one ``/`` and holds no backslash and nothing unprintable:
    browsers read ``\\`` as ``/`` and drop tabs and newlines from URLs, so ``/\\evil.example``
    or ``/<TAB>/evil.example`` would lead to ``//evil.example``, another site.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", LOGIN_PATH))
        or "\\" in target
        or not target.isprintable()  # control characters, tabs, newlines, odd spaces
    ):
        return DEFAULT_PAGE
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return DEFAULT_PAGE
    return target


def login_url(target: str) -> str:
    """The sign-in page, returning to ``target`` afterwards."""
    return f"{LOGIN_PATH}?next={quote(safe_next(target), safe='/')}"


async def signed_in_user(users: UserStore) -> User | None:
    """The account of this browser's live session, or ``None`` (a dead token is forgotten)."""
    token = app.storage.user.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        return None
    user = await users.resolve_session(token)
    if user is None:
        app.storage.user.pop(SESSION_KEY, None)
    return user


async def page_user(users: UserStore, request: Request) -> User | RedirectResponse:
    """The signed-in account, or a redirect to the sign-in page that comes back here."""
    user = await signed_in_user(users)
    if user is not None:
        return user
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(login_url(target), status_code=303)


async def acting_user(users: UserStore, required: Role) -> User | None:
    """The account allowed to act now, or ``None`` after telling the person why not."""
    user = await signed_in_user(users)
    if user is None:
        ui.notify("Your session has ended. Please sign in again.", type="warning")
        ui.navigate.to(LOGIN_PATH)
        return None
    if not user.role.allows(required):
        ui.notify(f"This needs the {required.value} role.", type="negative")
        return None
    return user


async def sign_in(users: UserStore, user: User) -> None:
    """Start a session for ``user`` in this browser."""
    app.storage.user[SESSION_KEY] = await users.start_session(user)


async def sign_out(users: UserStore) -> None:
    """End this browser's session."""
    token = app.storage.user.pop(SESSION_KEY, None)
    if isinstance(token, str) and token:
        await users.end_session(token)


@dataclass
class LoginThrottle:
    """Slows password guessing: after ``limit`` failures for a name, wait ``lockout_s``.

    Failures older than ``window_s`` are forgotten; a success clears the name's record.
    """

    limit: int = 5
    window_s: float = 900.0
    lockout_s: float = 60.0
    now: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def wait_s(self, username: str) -> float:
        """Seconds before ``username`` may try again (0: now)."""
        recent = self._recent(username)
        if len(recent) < self.limit:
            return 0.0
        return max(recent[-1] + self.lockout_s - self.now(), 0.0)

    def failed(self, username: str) -> None:
        """Note a failed attempt."""
        self._failures[username] = [*self._recent(username), self.now()]

    def succeeded(self, username: str) -> None:
        """Forget the name's failures."""
        self._failures.pop(username, None)

    def _recent(self, username: str) -> list[float]:
        cutoff = self.now() - self.window_s
        return [t for t in self._failures.get(username, []) if t > cutoff]
