"""How values read on screen: amounts, scores, times, ages, and one alert as a table row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from ui.live import AlertItem
from ui.theme import OUTCOME_COLORS

DASH: Final = "—"


def money(amount: Decimal | None, currency: str | None) -> str:
    """``1,234.50 EUR``; a dash when unknown."""
    if amount is None:
        return DASH
    return f"{amount:,.2f} {currency or ''}".rstrip()


def score(value: float | None) -> str:
    """A risk score with two decimals."""
    return DASH if value is None else f"{value:.2f}"


def timestamp(value: datetime | None) -> str:
    """``2026-03-01 14:03:22`` in UTC (the app shows every time in UTC)."""
    return DASH if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def milliseconds(value: float | None) -> str:
    """``12.3 ms`` (or ``1.20 s`` from a second up)."""
    if value is None:
        return DASH
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def ago(value: datetime | None, now: datetime) -> str:
    """How long before ``now``: ``12 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if value is None:
        return DASH
    seconds = max((now - value).total_seconds(), 0.0)
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def span(value: timedelta) -> str:
    """``15 min``, ``6 h``, ``7 d``."""
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def alert_row(item: AlertItem, *, pushed: bool) -> dict[str, Any]:
    """The live table's row for ``item``: display strings plus raw values to sort by."""
    return {
        "transaction_id": item.transaction_id,
        "time": timestamp(item.created_at),
        "ts": item.created_at.timestamp(),
        "account": item.account_id,
        "amount": money(item.amount, item.currency),
        "amount_value": float(item.amount) if item.amount is not None else 0.0,
        "merchant": item.merchant_id or DASH,
        "country": item.country or DASH,
        "outcome": item.outcome.value,
        "score": round(item.risk_score, 4),
        "score_color": score_color(item.risk_score),
        "score_pct": f"{100.0 * item.risk_score:.1f}%",
        "reason": item.top_reason or DASH,
        "status": item.status.value,
        "label": item.label.value if item.label else "",
        "new": pushed,
        "row_class": f"vigil-row-{item.outcome.value}" + (" vigil-row-new" if pushed else ""),
    }


def score_color(value: float) -> str:
    """Red from 0.8, amber from 0.5, slate below."""
    if value >= 0.8:
        return OUTCOME_COLORS["block"]
    if value >= 0.5:
        return OUTCOME_COLORS["review"]
    return OUTCOME_COLORS["allow"]
