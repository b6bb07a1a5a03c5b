"""The frame around every page: header with navigation, live-feed state, theme switch, account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from nicegui import app, ui

from storage.users import Role, User
from ui import auth
from ui.feed import FeedState
from ui.services import UiServices
from ui.theme import QUASAR_COLORS, STYLE

NAV: Final = (
    ("alerts", "Alerts", "/alerts", Role.ANALYST),
    ("overview", "Overview", "/overview", Role.ANALYST),
    ("daily", "Daily summary", "/daily", Role.ANALYST),
    ("rules", "Rules", "/rules", Role.ANALYST),
    ("models", "Models", "/models", Role.ANALYST),
    ("scaling", "Scaling", "/scaling", Role.ANALYST),
    ("audit", "Audit log", "/audit", Role.ADMIN),
)
_FEED_LOOK: Final = {
    FeedState.LIVE: ("Live", "positive", "sensors"),
    FeedState.STARTING: ("Connecting", "grey", "sync"),
    FeedState.RECONNECTING: ("Reconnecting", "warning", "sync_problem"),
    FeedState.STOPPED: ("Feed stopped", "negative", "sensors_off"),
}
THEME_KEY: Final = "vigil_dark"


def apply_theme() -> ui.dark_mode:
    """Colours, styles and the person's light / dark / automatic choice for this page."""
    ui.colors(**QUASAR_COLORS)
    ui.add_css(STYLE)
    return ui.dark_mode(app.storage.user.get(THEME_KEY))


@contextmanager
def frame(services: UiServices, user: User, *, active: str, title: str) -> Iterator[ui.column]:
    """Draw the header, then yield the page's main column."""
    ui.page_title(f"{title} · Vigil")
    dark = apply_theme()
    with ui.header().classes("vigil-header items-center gap-3 px-4 py-2"):
        ui.icon("shield", size="1.6rem").classes("text-indigo-300")
        ui.label("VIGIL").classes("vigil-brand")
        with ui.row().classes("vigil-nav gap-1 items-center no-wrap"):
            for key, label, path, role in NAV:
                if user.role.allows(role):
                    link = ui.link(label, path)
                    if key == active:
                        link.classes("active")
        ui.space()
        _feed_chip(services)
        _theme_button(dark)
        account = ui.button(icon="account_circle").props("flat round color=white").mark("account")
        with account, ui.menu():
            with ui.column().classes("px-4 py-2 gap-0"):
                ui.label(user.display_name).classes("font-bold")
                ui.label(f"{user.username} · {user.role.value}").classes("text-xs vigil-muted")
            ui.separator()

            async def sign_out() -> None:
                await auth.sign_out(services.users)
                ui.navigate.to(auth.LOGIN_PATH)

            ui.menu_item("Sign out", on_click=sign_out).mark("sign-out")
    with ui.column().classes("w-full max-w-screen-2xl mx-auto p-4 gap-4") as main:
        yield main


def denied(services: UiServices, user: User, *, active: str, title: str, role: Role) -> None:
    """A page the account may not see: say which role it needs."""
    with frame(services, user, active=active, title=title), ui.card().classes("vigil-card p-6"):
        ui.label(f"{title} needs the {role.value} role").classes("text-lg font-bold")
        ui.label(
            f"You are signed in as {user.username} ({user.role.value}). "
            "Ask an administrator if you need access."
        ).classes("vigil-muted")


def _feed_chip(services: UiServices) -> None:
    chip = ui.chip("", icon="sensors").props("dense outline").classes("text-xs").mark("feed")

    def show(state: FeedState) -> None:
        text, color, icon = _FEED_LOOK[state]
        chip.text = text
        chip.props(f"color={color} icon={icon}")
        chip.tooltip("New alerts arrive by push from the decision stream")

    show(services.hub.state)
    services.hub.feed_state.subscribe(show)


def _theme_button(dark: ui.dark_mode) -> None:
    icons = {None: "brightness_auto", True: "dark_mode", False: "light_mode"}
    following = {None: True, True: False, False: None}  # auto -> dark -> light -> auto

    def cycle() -> None:
        choice = following[app.storage.user.get(THEME_KEY)]
        app.storage.user[THEME_KEY] = choice
        dark.value = choice
        button.props(f"icon={icons[choice]}")

    button = ui.button(icon=icons[app.storage.user.get(THEME_KEY)], on_click=cycle)
    button.props("flat round color=white").tooltip("Theme: automatic, dark or light")
