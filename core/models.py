"""The shared vocabulary: what a transaction, a feature vector, a rule result, a model score and a
decision are. Every other package speaks in these types; wire schemas derive from them.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Final

import msgspec

from core.codes import country_codes, currency_codes

MAX_AMOUNT: Final = Decimal("1000000000")
"""Largest accepted transaction amount, in the transaction's currency."""
MAX_AMOUNT_DECIMALS: Final = 4
"""ISO 4217 currencies use at most four minor-unit digits."""
MAX_ATTRIBUTES: Final = 32
MAX_ATTRIBUTE_KEY_LENGTH: Final = 64
MAX_ATTRIBUTE_VALUE_LENGTH: Final = 256

MIN_INT: Final = -(2**63)
MAX_INT: Final = 2**63 - 1
"""Integer attributes are 64-bit, as MessagePack (the decision stream) and rules carry them."""
MIN_TIMESTAMP: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP: Final = datetime(9999, 1, 1, tzinfo=UTC)
"""Event times are epoch milliseconds in the feature store: nothing before 1970 is meaningful."""

# Patterns are anchored with \A and \Z: msgspec searches, and ``$`` also matches before a final
# newline, so ``^[0-9]{4}$`` would accept "5732\n" (which then fails in storage).
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"\A[^\s\x00]+\Z")]
"""An opaque identifier: 1 to 128 characters, no whitespace, no NUL."""
CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"\A[A-Z]{3}\Z")]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"\A[A-Z]{2}\Z")]
MerchantCategoryCode = Annotated[str, msgspec.Meta(pattern=r"\A[0-9]{4}\Z")]
AttributeKey = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=MAX_ATTRIBUTE_KEY_LENGTH, pattern=r"\A[A-Za-z_][A-Za-z0-9_]*\Z"
    ),
]
TextValue = Annotated[
    str, msgspec.Meta(max_length=MAX_ATTRIBUTE_VALUE_LENGTH, pattern=r"\A[^\x00]*\Z")
]
"""Free text that PostgreSQL can store (its text types refuse NUL)."""
AttributeValue = (
    TextValue | Annotated[int, msgspec.Meta(ge=MIN_INT, le=MAX_INT)] | float | bool | None
)
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
UnitInterval = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class Channel(enum.StrEnum):
    """How the payment was made."""

    POS = "pos"
    ECOMMERCE = "ecommerce"
    ATM = "atm"
    TRANSFER = "transfer"
    MOBILE = "mobile"
    OTHER = "other"


class Outcome(enum.StrEnum):
    """What Vigil tells the payment system to do, ordered ``allow < review < block``."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """0 for allow, 1 for review, 2 for block."""
        return _SEVERITY[self]

    @classmethod
    def most_severe(cls, outcomes: list[Outcome]) -> Outcome:
        """The most severe of ``outcomes`` (``allow`` when there are none)."""
        return max(outcomes, key=_SEVERITY.__getitem__, default=cls.ALLOW)


_SEVERITY: Final = {Outcome.ALLOW: 0, Outcome.REVIEW: 1, Outcome.BLOCK: 2}


class Transaction(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One payment as Vigil sees it. ``transaction_id`` is the client's idempotency key."""

    transaction_id: Identifier
    account_id: Identifier
    amount: Decimal
    currency: CurrencyCode
    timestamp: AwareDatetime
    merchant_id: Identifier
    merchant_category: MerchantCategoryCode
    country: CountryCode
    channel: Channel
    device_id: Identifier | None = None
    ip_address: Annotated[str, msgspec.Meta(max_length=45)] | None = None
    attributes: dict[AttributeKey, AttributeValue] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check what types alone cannot: ranges, code tables, address syntax."""
        _check_amount(self.amount)
        _check_timestamp(self.timestamp)
        if self.currency not in currency_codes():
            raise ValueError(f"`currency` {self.currency!r} is not an ISO 4217 currency code")
        if self.country not in country_codes():
            raise ValueError(f"`country` {self.country!r} is not an ISO 3166-1 alpha-2 code")
        if self.ip_address is not None:
            try:
                ipaddress.ip_address(self.ip_address)
            except ValueError:
                raise ValueError(
                    f"`ip_address` {self.ip_address!r} is not an IPv4 or IPv6 address"
                ) from None
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise ValueError(
                f"`attributes` has {len(self.attributes)} keys; at most {MAX_ATTRIBUTES}"
            )
        for key, value in self.attributes.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"`attributes.{key}` must be a finite number")


def _check_timestamp(timestamp: datetime | None) -> None:
    """Within the range the feature store and storage handle (``None``: the wire's "now")."""
    if timestamp is None:
        return
    try:
        in_range = MIN_TIMESTAMP <= timestamp <= MAX_TIMESTAMP
    except OverflowError:  # an offset that moves a date past year 1 or 9999
        in_range = False
    if not in_range:
        raise ValueError(
            f"`timestamp` must be between {MIN_TIMESTAMP.isoformat()} and "
            f"{MAX_TIMESTAMP.isoformat()}, got {timestamp.isoformat()}"
        )


def _check_amount(amount: Decimal) -> None:
    if not amount.is_finite():
        raise ValueError("`amount` must be a finite number")
    if amount.is_signed():  # negative, or a signed zero (-0.0 is not a card verification)
        raise ValueError(f"`amount` must be 0 or more, got {amount}")
    if amount > MAX_AMOUNT:
        raise ValueError(f"`amount` must be at most {MAX_AMOUNT}, got {amount}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_AMOUNT_DECIMALS:
        raise ValueError(
            f"`amount` has more than {MAX_AMOUNT_DECIMALS} decimal places, got {amount}"
        )


class FeatureVector(msgspec.Struct, frozen=True, kw_only=True):
    """Feature values of one transaction as of its event time; ``None`` means missing."""

    values: dict[str, float | None]
    spec_version: str


class RuleOutcome(enum.StrEnum):
    """What happened when one rule was evaluated."""

    HIT = "hit"
    NO_HIT = "no_hit"
    ERROR = "error"


class RuleResult(msgspec.Struct, frozen=True, kw_only=True):
    """One rule's verdict on one transaction."""

    rule_id: str
    outcome: RuleOutcome
    action: Outcome
    score: float = 0.0
    error: str | None = None


class Contribution(msgspec.Struct, frozen=True, kw_only=True):
    """How much one feature pushed a model score (positive: towards fraud)."""

    feature: str
    value: float | None
    contribution: float


class ModelScore(msgspec.Struct, frozen=True, kw_only=True):
    """One model's score in [0, 1] and its top contributing features."""

    name: str
    score: UnitInterval
    contributions: list[Contribution] = msgspec.field(default_factory=list)


class ReasonKind(enum.StrEnum):
    """Where a reason comes from."""

    RULE = "rule"
    MODEL = "model"
    DEGRADED = "degraded"


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    """One ranked explanation of a decision."""

    kind: ReasonKind
    code: str
    message: str
    weight: float


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """Vigil's answer for one transaction."""

    transaction_id: str
    outcome: Outcome
    risk_score: UnitInterval
    model_scores: list[ModelScore]
    rule_results: list[RuleResult]
    reasons: list[Reason]
    ruleset_version: str
    model_version: str
    decided_at: AwareDatetime
    latency_ms: dict[str, float] = msgspec.field(default_factory=dict)
    degraded: bool = False
    features: dict[str, float | None] = msgspec.field(default_factory=dict)
