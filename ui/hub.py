"""The in-process fan-out: one feed, many open pages, updated by push.

:class:`AlertHub` holds three NiceGUI :class:`~nicegui.Event` s. A page subscribes while it is
being built; NiceGUI runs the callback in that page's context and drops the subscription when the
page's client goes away, so a closed tab costs nothing. Emitting never waits for pages.
"""

from __future__ import annotations

from nicegui import Event

from storage.repository import Alert
from ui.feed import FeedState
from ui.live import AlertItem


class AlertHub:
    """New alerts, investigators' changes and the feed's state, for every page of this process."""

    def __init__(self) -> None:
        self.new_alerts: Event[[list[AlertItem]]] = Event()
        self.alert_changed: Event[[Alert]] = Event()
        self.feed_state: Event[[FeedState]] = Event()
        self.state = FeedState.STARTING

    def publish(self, items: list[AlertItem]) -> None:
        """Hand a batch of new alerts to every subscribed page."""
        self.new_alerts.emit(items)

    def changed(self, alert: Alert) -> None:
        """Tell every page that an alert was labelled, closed or reopened."""
        self.alert_changed.emit(alert)

    def set_state(self, state: FeedState) -> None:
        """Record and announce the feed's state."""
        self.state = state
        self.feed_state.emit(state)
