"""Plausible synthetic decisions for screenshots and the push benchmark (seeded, no engine).

Rule ids, actions and descriptions come from the real rule files and feature names from the real
feature spec, so every page shows what a running Vigil would: about 93% allow, 5% review and 2%
block, reasons that name real rules, model contributions over real features, and per-stage
latency shaped like the engine's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import numpy as np

from core.models import (
    Channel,
    Contribution,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    ReasonKind,
    RuleOutcome,
    RuleResult,
    Transaction,
)
from core.records import DecisionRecord
from ui.rules_catalog import RuleInfo

COUNTRIES: Final = ["FR", "FR", "FR", "DE", "DE", "NL", "ES", "IT", "GB", "US", "BE", "PL"]
RISKY_COUNTRIES: Final = ["NG", "RU", "BR", "VN", "UA"]
MERCHANTS: Final = [
    ("grocer-{}", "5411"),
    ("fuel-{}", "5541"),
    ("cafe-{}", "5814"),
    ("electro-{}", "5732"),
    ("travel-{}", "4722"),
    ("fashion-{}", "5651"),
    ("pharma-{}", "5912"),
    ("games-{}", "5816"),
    ("giftcards-{}", "5947"),
    ("crypto-{}", "6051"),
]
CHANNELS: Final = [Channel.POS, Channel.ECOMMERCE, Channel.ECOMMERCE, Channel.MOBILE, Channel.ATM]


class SampleDecisions:
    """Makes decision records one at a time from a seeded generator."""

    def __init__(
        self, rules: tuple[RuleInfo, ...], feature_names: tuple[str, ...], *, seed: int = 7
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.rules = [r for r in rules if r.enabled]
        self.feature_names = feature_names
        self.count = 0

    def record(self, at: datetime, outcome: Outcome | None = None) -> DecisionRecord:
        """One decision made at ``at`` (outcome drawn unless given)."""
        rng = self.rng
        self.count += 1
        if outcome is None:
            draw = rng.random()
            outcome = (
                Outcome.BLOCK if draw < 0.02 else Outcome.REVIEW if draw < 0.07 else Outcome.ALLOW
            )
        risky = outcome is not Outcome.ALLOW
        name, mcc = MERCHANTS[int(rng.integers(len(MERCHANTS)))]
        countries = RISKY_COUNTRIES if risky and rng.random() < 0.4 else COUNTRIES
        amount = float(
            np.exp(rng.normal(3.4, 0.9)) * (6.0 if risky and rng.random() < 0.5 else 1.0)
        )
        txn = Transaction(
            transaction_id=f"tx-{at:%H%M%S}-{self.count:05d}",
            account_id=f"acct-{int(rng.integers(1, 400)):05d}",
            amount=Decimal(f"{max(amount, 1.0):.2f}"),
            currency="EUR",
            timestamp=at,
            merchant_id=name.format(int(rng.integers(1, 40))),
            merchant_category=mcc,
            country=countries[int(rng.integers(len(countries)))],
            channel=CHANNELS[int(rng.integers(len(CHANNELS)))],
            device_id=f"dev-{int(rng.integers(1, 900)):04d}",
            ip_address=f"198.51.100.{int(rng.integers(1, 254))}",
        )
        return DecisionRecord(
            transaction=txn, decision=self._decision(txn, outcome), received_at=at
        )

    def _decision(self, txn: Transaction, outcome: Outcome) -> Decision:
        rng = self.rng
        risk = {
            Outcome.ALLOW: float(rng.beta(1.2, 18.0)),
            Outcome.REVIEW: float(rng.uniform(0.45, 0.8)),
            Outcome.BLOCK: float(rng.uniform(0.8, 0.99)),
        }[outcome]
        hits = self._hits(outcome)
        results = [
            RuleResult(
                rule_id=rule.id,
                outcome=RuleOutcome.HIT if rule.id in hits else RuleOutcome.NO_HIT,
                action=rule.action,
                score=rule.score if rule.id in hits else 0.0,
            )
            for rule in self.rules
        ]
        features = self._features(txn)
        contributions = self._contributions(features, risk)
        reasons = [
            Reason(kind=ReasonKind.RULE, code=r.id, message=r.description, weight=r.score)
            for r in self.rules
            if r.id in hits
        ] + [
            Reason(
                kind=ReasonKind.MODEL,
                code=c.feature,
                message=f"{c.feature.replace('_', ' ')} pushed the score up",
                weight=round(c.contribution / 4.0, 3),
            )
            for c in contributions[:2]
            if c.contribution > 0 and outcome is not Outcome.ALLOW
        ]
        stages = {
            "queue": float(rng.gamma(2.0, 0.15)),
            "features": float(rng.gamma(3.0, 0.4)),
            "rules": float(rng.gamma(2.0, 0.08)),
            "ensemble": float(rng.gamma(3.0, 0.35)),
            "decide": float(rng.gamma(2.0, 0.02)),
        }
        stages["total"] = sum(stages.values()) + float(rng.gamma(2.0, 0.3))
        return Decision(
            transaction_id=txn.transaction_id,
            outcome=outcome,
            risk_score=round(risk, 4),
            model_scores=[
                ModelScore(
                    name="xgboost",
                    score=round(min(risk * 1.02, 1.0), 4),
                    contributions=contributions,
                ),
                ModelScore(name="isolation_forest", score=round(float(rng.uniform(0.3, 0.7)), 4)),
                ModelScore(name="ensemble", score=round(risk, 4)),
            ],
            rule_results=results,
            reasons=reasons[:5],  # rule hits first, then model contributions, as the engine ranks
            ruleset_version="3f9c2a1b7d40e8a5",
            model_version="xgb-if-20261130-b7345218b4",
            decided_at=txn.timestamp + timedelta(milliseconds=stages["total"]),
            latency_ms={k: round(v, 3) for k, v in stages.items()},
            features=features,
        )

    def _hits(self, outcome: Outcome) -> set[str]:
        if outcome is Outcome.ALLOW:
            return set()
        wanted = [r for r in self.rules if r.action is outcome] or self.rules
        picks = {wanted[int(self.rng.integers(len(wanted)))].id}
        if self.rng.random() < 0.3:
            picks.add(self.rules[int(self.rng.integers(len(self.rules)))].id)
        return picks

    def _features(self, txn: Transaction) -> dict[str, float | None]:
        rng = self.rng
        values: dict[str, float | None] = {}
        for name in self.feature_names:
            if name == "amount":
                values[name] = float(txn.amount)
            elif name.startswith(("is_", "device_first", "country_first", "merchant_first")):
                values[name] = float(rng.random() < 0.2)
            elif name == "hour_of_day":
                values[name] = float(txn.timestamp.hour)
            elif name == "day_of_week":
                values[name] = float(txn.timestamp.weekday())
            elif "seconds_since" in name:
                values[name] = None if rng.random() < 0.1 else float(rng.exponential(40_000))
            elif "count" in name or "distinct" in name:
                values[name] = float(rng.poisson(3))
            else:
                values[name] = round(float(rng.gamma(2.0, 40.0)), 2)
        return values

    def _contributions(self, features: dict[str, float | None], risk: float) -> list[Contribution]:
        names = list(features)
        chosen = self.rng.choice(len(names), size=5, replace=False)
        raw = [
            Contribution(
                feature=names[int(i)],
                value=features[names[int(i)]],
                contribution=round(float(self.rng.normal(risk * 1.5, 0.6)), 4),
            )
            for i in chosen
        ]
        return sorted(raw, key=lambda c: -abs(c.contribution))


def history(
    sample: SampleDecisions, now: datetime, *, span: timedelta, count: int
) -> list[DecisionRecord]:
    """``count`` decisions spread evenly at random over ``span`` before ``now``."""
    offsets = np.sort(sample.rng.uniform(0.0, span.total_seconds(), size=count))
    return [sample.record(now - timedelta(seconds=float(s))) for s in offsets[::-1]]
