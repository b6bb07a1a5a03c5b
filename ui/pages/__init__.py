"""The app's pages; each module registers its routes with ``register(services)``."""

from __future__ import annotations

from ui.pages import alert_detail, alerts, audit, daily, login, models, overview, rules, scaling
from ui.services import UiServices


def register_pages(services: UiServices) -> None:
    """Register every page of the app, bound to ``services``."""
    for page in (login, alerts, alert_detail, overview, daily, rules, models, scaling, audit):
        page.register(services)
