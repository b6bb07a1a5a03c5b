"""What an API key may do: the scopes the gateway checks and the key store records."""

from __future__ import annotations

import enum


class Scope(enum.StrEnum):
    """What an API key may do."""

    SCORE = "score"
    """Submit transactions for scoring."""
    READ = "read"
    """Read stored decisions and alerts."""
    ADMIN = "admin"
    """Everything: labelling alerts, the admin API (deployments, scaling, rule versions)."""
