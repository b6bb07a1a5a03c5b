"""What an API key may do: the scopes the gateway checks and the key store records."""

from __future__ import annotations

import enum


class Scope(enum.StrEnum):
    """What an API key may do."""

    SCORE = "score"
    """Submit transactions for scoring."""
    READ = "read"
    """Read stored decisions and alerts."""
    LABEL = "label"
    """Record known outcomes: label alerts, send labels in bulk (chargebacks, disputes)."""
    ADMIN = "admin"
    """Everything: every scope above, and the admin API (deployments, scaling, rule versions)."""
