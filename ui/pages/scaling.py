"""Scaling: every Serve deployment with its replicas and status; admins change replica counts.

The page asks the gateway's admin API (the mechanism ``vigil scale`` uses) every
``gateway_poll_s`` seconds and updates the cards in place, so a replica count being typed is not
lost. When the gateway cannot be reached the page says so and keeps retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from client.gateway import GatewayUnavailable
from core.admin import DeploymentInfo
from storage.users import Role, User
from ui import auth
from ui.layout import frame
from ui.services import UiServices

MAX_REPLICAS: Final = 64
STATUS_COLORS: Final = {
    "HEALTHY": "positive",
    "RUNNING": "positive",
    "UPDATING": "warning",
    "UPSCALING": "warning",
    "DOWNSCALING": "warning",
    "UNHEALTHY": "negative",
    "DEPLOY_FAILED": "negative",
}


def replica_problem(value: Any) -> str | None:
    """Why ``value`` is not a replica count (``None``: it is one)."""
    if value is None or value == "":
        return "enter a number of replicas"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "must be a whole number"
    if not number.is_integer():
        return "must be a whole number"
    if not 1 <= number <= MAX_REPLICAS:
        return f"must be between 1 and {MAX_REPLICAS}"
    return None


@dataclass
class _Card:
    status: Any
    replicas: Any
    details: Any
    target: Any


def register(services: UiServices) -> None:
    """Add ``/scaling``."""

    @ui.page("/scaling")
    async def scaling_page(request: Request) -> RedirectResponse | None:
        user = await auth.page_user(services.users, request)
        if isinstance(user, RedirectResponse):
            return user
        with frame(services, user, active="scaling", title="Scaling"):
            view = ScalingView(services, user)
            view.build()
            await view.refresh()
            ui.timer(services.config.gateway_poll_s, view.refresh)
        return None


class ScalingView:
    """Deployment cards of one tab."""

    def __init__(self, services: UiServices, user: User) -> None:
        self.services = services
        self.user = user
        self.cards: dict[str, _Card] = {}

    def build(self) -> None:
        """Draw the header, the unreachable banner and the card grid."""
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Scaling").classes("text-2xl font-bold")
            ui.label(f"gateway {self.services.gateway.base_url}").classes("vigil-muted")
            ui.space()
            self.updated = ui.label("").classes("vigil-muted text-sm")
        self.banner = ui.card().classes("vigil-card w-full").mark("gateway-unreachable")
        with self.banner, ui.row().classes("items-center gap-3 no-wrap"):
            ui.icon("cloud_off", size="2rem", color="warning")
            with ui.column().classes("gap-0"):
                ui.label("Gateway unreachable").classes("text-lg font-bold")
                self.banner_text = ui.label("").classes("vigil-muted").mark("unreachable")
        self.banner.visible = False
        self.grid = ui.grid(columns="repeat(auto-fill, minmax(20rem, 1fr))").classes("w-full gap-4")

    async def refresh(self) -> None:
        """Ask the gateway for the deployments and update the cards."""
        try:
            deployments = await self.services.gateway.deployments()
        except GatewayUnavailable as exc:
            self.banner.visible = True
            self.banner_text.text = (
                f"{exc}. Retrying every {self.services.config.gateway_poll_s:g} s."
            )
            return
        self.banner.visible = False
        self.updated.text = f"updated {self.services.clock.now():%H:%M:%S} UTC"
        for deployment in deployments:
            card = self.cards.get(deployment.name) or self._add_card(deployment)
            self._fill(card, deployment)

    def _add_card(self, deployment: DeploymentInfo) -> _Card:
        admin = self.user.role.allows(Role.ADMIN)
        with self.grid, ui.card().classes("vigil-card gap-2").mark(f"deployment-{deployment.name}"):
            with ui.row().classes("w-full items-center"):
                ui.label(deployment.name).classes("text-lg font-bold")
                ui.space()
                status = ui.chip("", color="grey").props("square dense text-color=white")
            replicas = ui.label("").classes("text-2xl font-bold")
            details = ui.column().classes("gap-0 text-sm")
            with ui.row().classes("items-center gap-2"):
                target = ui.number(
                    "Replicas",
                    value=deployment.replicas.target,
                    min=1,
                    max=MAX_REPLICAS,
                    step=1,
                    format="%d",
                )
                target.props("outlined dense").classes("w-32").mark(f"replicas-{deployment.name}")
                apply = (
                    ui.button(
                        "Apply",
                        icon="tune",
                        on_click=lambda: self.scale(deployment.name, target.value),
                    )
                    .props("unelevated color=primary")
                    .mark(f"scale-{deployment.name}")
                )
                if not admin:
                    target.disable()
                    apply.disable()
                    apply.tooltip("Scaling needs the admin role")
        card = _Card(status=status, replicas=replicas, details=details, target=target)
        self.cards[deployment.name] = card
        return card

    def _fill(self, card: _Card, deployment: DeploymentInfo) -> None:
        card.status.text = deployment.status.lower()
        card.status.props(f"color={STATUS_COLORS.get(deployment.status.upper(), 'grey')}")
        card.replicas.text = (
            f"{deployment.replicas.running} / {deployment.replicas.target} replicas running"
        )
        card.details.clear()
        with card.details:
            if deployment.message:
                with ui.row().classes("w-full justify-between no-wrap gap-4"):
                    ui.label("message").classes("vigil-muted")
                    ui.label(deployment.message).classes("vigil-mono")

    async def scale(self, name: str, value: Any) -> None:
        """Ask the gateway for ``value`` replicas of ``name`` (admins only)."""
        user = await auth.acting_user(self.services.users, Role.ADMIN)
        if user is None:
            return
        problem = replica_problem(value)
        if problem is not None:
            ui.notify(f"Replicas for {name}: {problem}.", type="warning")
            return
        replicas = int(float(value))
        try:
            await self.services.gateway.scale(name, replicas)
        except GatewayUnavailable as exc:
            ui.notify(f"Could not scale {name}: {exc}", type="negative")
            return
        await self.services.users.record(
            user.username, "deployment_scaled", f"deployment:{name}", {"replicas": replicas}
        )
        ui.notify(f"Scaling {name} to {replicas} replicas.", type="positive")
        await self.refresh()
