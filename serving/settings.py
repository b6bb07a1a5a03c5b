"""The gateway's own knobs, validated once when the app is built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from config.fx import FxTable
from core.errors import ConfigError, Problem
from storage.repository import MAX_PAGE_SIZE


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewaySettings:
    """Limits and switches of the HTTP gateway.

    ``auth_enabled=False`` is for local development only: every request then acts with every
    scope, and the app logs a warning when it is built.
    """

    max_body_bytes: int = 1_048_576
    """Largest accepted request body; larger bodies get 413."""
    max_batch_items: int = 500
    """Most transactions one ``POST /v1/transactions/batch`` may carry."""
    max_label_items: int = 1000
    """Most labels one ``POST /v1/labels`` may carry."""
    max_future_skew: timedelta = timedelta(minutes=5)
    """How far past the gateway's clock a transaction's ``timestamp`` (or a label's
    ``known_at``) may lie."""
    max_page_size: int = 200
    """Largest ``limit`` of a paginated listing (at most the repository's own maximum)."""
    auth_enabled: bool = True
    """Require an API key on every ``/v1`` route."""
    fx: FxTable | None = None
    """The engine's FX table: a transaction in a currency without a rate is refused with 400
    naming ``$.currency``. ``None`` accepts every ISO 4217 currency (apps built without one)."""

    def __post_init__(self) -> None:
        """Reject limits that would make the gateway refuse everything."""
        problems = [
            Problem(name, "must be at least 1")
            for name, value in (
                ("max_body_bytes", self.max_body_bytes),
                ("max_batch_items", self.max_batch_items),
                ("max_label_items", self.max_label_items),
                ("max_page_size", self.max_page_size),
            )
            if value < 1
        ]
        if self.max_page_size > MAX_PAGE_SIZE:
            problems.append(Problem("max_page_size", f"must be at most {MAX_PAGE_SIZE}"))
        if self.max_future_skew < timedelta(0):
            problems.append(Problem("max_future_skew", "must not be negative"))
        if problems:
            raise ConfigError("invalid gateway settings", problems)
