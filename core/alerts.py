"""An alert's investigation state: whether it is still open, and the investigator's verdict.

Every ``review`` / ``block`` decision is an alert. The same two enumerations are stored in
PostgreSQL (``storage.models.AlertRow``), sent on the wire (``serving``) and shown by the web app.
"""

from __future__ import annotations

import enum


class AlertStatus(enum.StrEnum):
    """Whether an alert still needs someone's attention."""

    OPEN = "open"
    CLOSED = "closed"


class AlertLabel(enum.StrEnum):
    """An investigator's verdict on an alert."""

    FRAUD = "fraud"
    LEGIT = "legit"
