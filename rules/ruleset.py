"""A loaded rule set: its rules, its version, and one compiled program that evaluates them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from config.fx import FxTable
from core.models import FeatureVector, Outcome, RuleOutcome, RuleResult, Transaction
from rules.expressions import RuleProgram

FeatureValues = FeatureVector | Mapping[str, float | None]
"""Feature values by name (``None`` = missing), bare or as a :class:`FeatureVector`."""


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """One rule of a loaded set."""

    id: str
    description: str
    when: str
    action: Outcome
    score: float
    enabled: bool
    tags: tuple[str, ...]
    source: str
    """``file:line:col`` of the rule's id."""


class RuleSet:
    """An immutable, compiled rule set; share it freely between threads and requests.

    ``version`` is a content hash of the rule files: equal files, equal version. Only enabled rules
    are evaluated; every rule (disabled ones too) passed the same checks at load. ``fx`` converts
    each transaction's amount for ``txn.amount_base``; without a table (or a rate for the
    currency) ``txn.amount_base`` is null, and a rule comparing it records an ``error``.
    """

    def __init__(
        self,
        *,
        version: str,
        rules: Sequence[Rule],
        program: RuleProgram,
        feature_names: Sequence[str],
        files: Sequence[str],
        fx: FxTable | None = None,
    ) -> None:
        enabled = [rule for rule in rules if rule.enabled]
        if len(program) != len(enabled):
            raise ValueError(f"program has {len(program)} expressions for {len(enabled)} rules")
        self.version = version
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self.files: tuple[str, ...] = tuple(files)
        self.fx = fx
        self._program = program
        self._enabled = tuple(enabled)
        # Results are immutable: a hit or a no-hit is the same object every time.
        self._hits = tuple(
            RuleResult(rule_id=r.id, outcome=RuleOutcome.HIT, action=r.action, score=r.score)
            for r in enabled
        )
        self._misses = tuple(
            RuleResult(rule_id=r.id, outcome=RuleOutcome.NO_HIT, action=r.action) for r in enabled
        )

    def __repr__(self) -> str:
        return f"RuleSet(version={self.version!r}, rules={len(self.rules)})"

    @property
    def enabled_rules(self) -> tuple[Rule, ...]:
        """The rules that are evaluated, in file order."""
        return self._enabled

    def evaluate(self, txn: Transaction, features: FeatureValues) -> list[RuleResult]:
        """One result per enabled rule, in order: ``hit``, ``no_hit`` or ``error``.

        A hit carries the rule's score; ``no_hit`` and ``error`` carry 0. A rule failing at run
        time (say, a missing feature compared without ``has()``) is an ``error`` result with the
        CEL message; the other rules are unaffected.
        """
        values = features.values if isinstance(features, FeatureVector) else features
        verdicts = self._program.evaluate(txn, values, self.amount_base(txn))
        return [
            hit if verdict is True else miss if verdict is False else _error(hit, verdict.message)
            for hit, miss, verdict in zip(self._hits, self._misses, verdicts, strict=True)
        ]

    def amount_base(self, txn: Transaction) -> float | None:
        """``txn.amount_base`` as rules see it: the amount in the FX table's base currency, as
        the ``amount`` feature has it; ``None`` without a table or a rate for the currency."""
        return None if self.fx is None else self.fx.base_amount(txn.amount, txn.currency)

    def evaluate_many(
        self, rows: Iterable[tuple[Transaction, FeatureValues]]
    ) -> list[list[RuleResult]]:
        """:meth:`evaluate` for each ``(transaction, features)`` row, with this same set."""
        return [self.evaluate(txn, features) for txn, features in rows]


def _error(hit: RuleResult, message: str) -> RuleResult:
    return RuleResult(
        rule_id=hit.rule_id, outcome=RuleOutcome.ERROR, action=hit.action, error=message
    )
