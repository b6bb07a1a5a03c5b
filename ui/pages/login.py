"""Sign in and sign out."""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from ui import auth
from ui.layout import apply_theme
from ui.services import UiServices


def register(services: UiServices) -> None:
    """Add ``/``, ``/login`` and ``/logout``."""

    @ui.page("/")
    async def home() -> RedirectResponse:
        return RedirectResponse(auth.DEFAULT_PAGE, status_code=303)

    @ui.page("/logout")
    async def logout() -> RedirectResponse:
        await auth.sign_out(services.users)
        return RedirectResponse(auth.LOGIN_PATH, status_code=303)

    @ui.page(auth.LOGIN_PATH)
    async def login(request: Request) -> RedirectResponse | None:
        target = auth.safe_next(request.query_params.get("next"))
        if await auth.signed_in_user(services.users) is not None:
            return RedirectResponse(target, status_code=303)
        _login_form(services, target)
        return None


def _login_form(services: UiServices, target: str) -> None:
    ui.page_title("Sign in · Vigil")
    apply_theme()
    with ui.column().classes("absolute-center items-center gap-5"):
        with ui.row().classes("items-center gap-2"):
            ui.icon("shield", size="2.2rem", color="primary")
            ui.label("VIGIL").classes("text-3xl font-bold tracking-widest")
        ui.label("Fraud investigations").classes("vigil-muted -mt-4")
        with ui.card().classes("vigil-card w-96 p-6 gap-3"):
            ui.label("Sign in").classes("text-lg font-bold")
            username = ui.input("Username").props("outlined autofocus autocomplete=username")
            username.classes("w-full").mark("username")
            password = ui.input("Password", password=True, password_toggle_button=True)
            password.props("outlined autocomplete=current-password").classes("w-full")
            password.mark("password")
            error = ui.label("").classes("text-negative text-sm").mark("login-error")

            async def submit() -> None:
                name = (username.value or "").strip().lower()
                wait = services.throttle.wait_s(name)
                if wait > 0:
                    error.text = f"Too many failed attempts. Try again in {math.ceil(wait)} s."
                    return
                user = await services.users.authenticate(name, password.value or "")
                if user is None:
                    services.throttle.failed(name)
                    error.text = "Unknown username or wrong password."
                    password.value = ""
                    return
                services.throttle.succeeded(name)
                await auth.sign_in(services.users, user)
                await services.users.record(user.username, "signed_in", f"user:{user.username}")
                ui.navigate.to(target)

            password.on("keydown.enter", submit)
            ui.button("Sign in", on_click=submit).props("unelevated color=primary").classes(
                "w-full"
            ).mark("sign-in")
        ui.label("Accounts are created with `vigil users add`.").classes("text-xs vigil-muted")
