"""Shared fixtures: feature names, a transaction factory and a rule-directory writer."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.models import Channel, Transaction

FEATURE_NAMES = (
    "txn_count_by_account_1m",
    "txn_count_by_account_1h",
    "txn_count_by_account_24h",
    "amount_sum_by_account_1h",
    "amount_sum_by_account_24h",
    "amount_mean_by_account_30d",
    "merchant_distinct_by_account_24h",
)

WriteRules = Callable[..., Path]
MakeTxn = Callable[..., Transaction]


@pytest.fixture
def feature_names() -> tuple[str, ...]:
    """A small feature list, independent of config/features.yaml."""
    return FEATURE_NAMES


@pytest.fixture
def make_txn() -> MakeTxn:
    """Build a valid Transaction; keyword arguments override fields."""

    def make(**overrides: Any) -> Transaction:
        fields: dict[str, Any] = {
            "transaction_id": "t-1",
            "account_id": "acc-1",
            "amount": Decimal("25.00"),
            "currency": "EUR",
            "timestamp": datetime(2026, 3, 2, 3, 30, tzinfo=UTC),
            "merchant_id": "m-1",
            "merchant_category": "5411",
            "country": "FR",
            "channel": Channel.ECOMMERCE,
        }
        fields.update(overrides)
        return Transaction(**fields)

    return make


@pytest.fixture
def write_rules(tmp_path: Path) -> WriteRules:
    """Write ``{file name: YAML text}`` (dedented) into a fresh rule directory and return it."""
    directory = tmp_path / "rules"
    directory.mkdir()

    def write(files: dict[str, str] | None = None, **named: str) -> Path:
        for name, text in {**(files or {}), **named}.items():
            file_name = name if name.endswith(".yaml") else f"{name}.yaml"
            (directory / file_name).write_text(textwrap.dedent(text), encoding="utf-8")
        return directory

    return write


def rule_yaml(
    rule_id: str,
    when: str,
    *,
    action: str = "review",
    score: float = 0.5,
    extra: str = "",
) -> str:
    """One rule as a YAML list item (``when`` as a single-line plain scalar)."""
    return (
        f"  - id: {rule_id}\n"
        f"    description: Rule {rule_id}.\n"
        f"    when: {when}\n"
        f"    action: {action}\n"
        f"    score: {score}\n"
        f"{extra}"
    )


@pytest.fixture
def rule_item() -> Callable[..., str]:
    """:func:`rule_yaml`, as a fixture."""
    return rule_yaml
