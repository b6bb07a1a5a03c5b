"""Benchmark: a 50-rule set evaluated per transaction (target: p50 well under 100 µs).

Run with ``uv run python bench/bench_rules.py [--rules 50] [--transactions 20000] [--seed 7]``.

The set is the shipped starter rules (config/rules) plus threshold variants of them up to
``--rules``, compiled against the shipped feature spec. Transactions and feature values are
synthetic (seeded). Prints p50/p95/p99 latency per transaction and throughput for:

* ``combined``: the production path, all enabled rules as one compiled CEL program;
* ``per-rule``: one CEL call per rule (what ``combined`` replaces);
* ``fallback``: the production path on transactions where one rule fails at run time, which
  re-evaluates rule by rule to isolate the failing rule;
* ``to-messages``: converting the transaction and features to CEL inputs alone.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from config.settings import CONFIG_DIR
from core.models import Channel, Transaction
from features.spec import default_feature_set
from rules.expressions import rule_environment
from rules.loader import load_rule_set
from rules.ruleset import RuleSet

Row = tuple[Transaction, Mapping[str, float | None]]
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)")
_ERRORING_RULE = """
  - id: bench-needs-attribute
    description: Fails at run time unless the transaction has attributes.segment.
    when: txn.attributes.segment == 'vip'
    action: review
    score: 0.1
"""


def build_rule_dir(directory: Path, count: int, *, with_erroring_rule: bool) -> None:
    """Copy the starter rules and add threshold variants until there are ``count`` rules."""
    starter = load_rule_set(CONFIG_DIR / "rules", default_feature_set().names)
    enabled = list(starter.enabled_rules)
    lines = ["rules:"]
    total = len(enabled) + (1 if with_erroring_rule else 0)
    variant = 0
    while total < count:
        rule = enabled[variant % len(enabled)]
        factor = 1.0 + 0.1 * (variant // len(enabled) + 1)
        when = _scale_numbers(rule.when, factor)
        lines += [
            f"  - id: {rule.id}-v{variant}",
            f"    description: Variant {variant} of {rule.id}.",
            f"    when: {' '.join(when.split())!r}",
            f"    action: {rule.action.value}",
            f"    score: {rule.score}",
        ]
        variant += 1
        total += 1
    for source in (CONFIG_DIR / "rules").glob("*.yaml"):
        (directory / source.name).write_bytes(source.read_bytes())
    extra = "\n".join(lines) + "\n" + (_ERRORING_RULE if with_erroring_rule else "")
    (directory / "zz_bench_variants.yaml").write_text(extra, encoding="utf-8")


def _scale_numbers(expression: str, factor: float) -> str:
    """``expression`` with every decimal literal multiplied by ``factor``."""
    return _NUMBER.sub(lambda match: f"{float(match.group(1)) * factor:.4f}", expression)


def synthetic_rows(names: Sequence[str], count: int, seed: int) -> list[Row]:
    """Seeded transactions with plausible feature values, missing where they can be: device and
    IP features without a device, history features for a first transaction."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[Row] = []
    for index in range(count):
        txn = Transaction(
            transaction_id=f"t-{index}",
            account_id=f"acc-{rng.integers(0, 1000)}",
            amount=Decimal(f"{rng.lognormal(3.5, 1.2):.2f}") + Decimal("0.01"),
            currency="EUR",
            timestamp=start + timedelta(seconds=int(rng.integers(0, 86_400 * 30))),
            merchant_id=f"m-{rng.integers(0, 500)}",
            merchant_category=str(rng.choice(["5411", "5812", "7995", "6051", "4829"])),
            country=str(rng.choice(["FR", "DE", "US", "GB"])),
            channel=Channel(str(rng.choice(["pos", "ecommerce", "transfer"]))),
            device_id=f"dev-{rng.integers(0, 2000)}" if rng.random() < 0.9 else None,
            attributes={"segment": "retail"} if index % 2 else {},
        )
        features: dict[str, float | None] = {name: float(rng.poisson(3.0)) for name in names}
        for name in names:  # missing the way the feature store leaves them missing
            no_device = txn.device_id is None and ("device" in name or "_by_ip_" in name)
            no_history = ("seconds_since_last" in name or "zscore" in name) and rng.random() < 0.05
            if no_device or no_history:
                features[name] = None
        rows.append((txn, features))
    return rows


def measure(label: str, call: Callable[[Row], object], rows: Sequence[Row]) -> None:
    """Time ``call`` on every row; print latency percentiles and throughput."""
    for row in rows[: min(500, len(rows))]:  # warm up
        call(row)
    timings = np.empty(len(rows))
    began = time.perf_counter()
    for index, row in enumerate(rows):
        start = time.perf_counter_ns()
        call(row)
        timings[index] = time.perf_counter_ns() - start
    elapsed = time.perf_counter() - began
    p50, p95, p99 = np.percentile(timings / 1_000, [50, 95, 99])
    print(
        f"{label:<12} p50 {p50:7.1f} µs  p95 {p95:7.1f} µs  p99 {p99:7.1f} µs  "
        f"{len(rows) / elapsed:9,.0f} txn/s"
    )


def main() -> None:
    """Build the rule set, generate rows, print one line per evaluation mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    names = default_feature_set().names
    with tempfile.TemporaryDirectory() as clean_dir, tempfile.TemporaryDirectory() as error_dir:
        build_rule_dir(Path(clean_dir), args.rules, with_erroring_rule=False)
        build_rule_dir(Path(error_dir), args.rules, with_erroring_rule=True)
        combined = load_rule_set(Path(clean_dir), names)
        failing = load_rule_set(Path(error_dir), names)
    environment = rule_environment(tuple(names))
    per_rule = RuleSet(
        version=combined.version,
        rules=combined.rules,
        program=environment.program([rule.when for rule in combined.enabled_rules], combined=False),
        feature_names=names,
        files=combined.files,
    )
    rows = synthetic_rows(names, args.transactions, args.seed)
    failing_rows = [row for row in rows if "segment" not in row[0].attributes]
    messages = environment.messages
    print(
        f"{len(combined.enabled_rules)} enabled rules, {len(names)} features, "
        f"{len(rows):,} transactions"
    )
    measure("combined", lambda row: combined.evaluate(*row), rows)
    measure("per-rule", lambda row: per_rule.evaluate(*row), rows)
    measure("fallback", lambda row: failing.evaluate(*row), failing_rows)
    measure("to-messages", lambda r: (messages.transaction(r[0]), messages.features(r[1])), rows)


if __name__ == "__main__":
    main()
