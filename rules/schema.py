"""What a rule file may say: strict msgspec Structs (unknown keys and wrong types are errors).

A rule file (``config/rules/*.yaml``)::

    description: Card testing: many small payments in a short time.   # optional
    rules:
      - id: card-testing-burst            # unique across the rule set; lowercase slug
        description: Five or more payments within a minute, each under 5.
        when: >                           # a CEL expression that returns a bool
          has(features.txn_count_by_account_1m)
          && features.txn_count_by_account_1m >= 5.0 && txn.amount < 5.0
        action: review                    # allow | review | block
        score: 0.6                        # 0..1, its weight in the risk score
        enabled: true                     # optional, default true
        tags: [card-testing]              # optional
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from core.models import Outcome

RULE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]*$"
RuleId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=RULE_ID_PATTERN)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=RULE_ID_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Expression = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
Score = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

FIELD_HINTS: Final = {
    "id": "a lowercase slug of letters, digits, '-' and '_', at most 64 characters",
    "tags": "lowercase slugs of letters, digits, '-' and '_'",
    "action": "one of allow, review, block",
    "score": "a number from 0.0 to 1.0",
    "enabled": "true or false",
}
"""What each rule field must be, appended to validation messages."""


class RuleSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One rule as written in a rule file."""

    id: RuleId
    description: Text
    when: Expression
    action: Outcome
    score: Score
    enabled: bool = True
    tags: tuple[Tag, ...] = ()


class RuleFileSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A rule file: an optional description and a list of rules (checked one by one)."""

    rules: list[object]
    description: Text | None = None
