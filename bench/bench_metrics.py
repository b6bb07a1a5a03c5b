"""Benchmark: the cost of recording one decision's metrics on the gateway's event loop.

Run with ``flock /tmp/vigil-ray.lock uv run python bench/bench_metrics.py [--decisions 20000]``
(it starts a small local Ray, as the gateway replica is connected to one; ``--no-ray`` measures
the same calls in a process that never called ``ray.init``).

Decisions are realistic: 50 rule results of which a few hit and one failed, three model scores,
the per-stage latencies the pipeline records; a few are degraded. Prints p50/p99/mean per
decision for :meth:`runtime.metrics.DecisionMetrics.record`, and the time per decision when a
micro-batch of 64 is recorded at once (:meth:`~runtime.metrics.DecisionMetrics.observe`).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.models import Contribution, Decision, ModelScore, Outcome, RuleOutcome, RuleResult
from engine.contracts import EnsembleRow, StageFailure, Thresholds
from engine.decision import decide
from runtime.metrics import DecisionMetrics, ray_meters

_AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
_RULES = 50


def make_decisions(count: int, seed: int) -> list[Decision]:
    """``count`` decisions like the pipeline makes (a few hits, one error, 1% degraded)."""
    rng = random.Random(seed)
    out: list[Decision] = []
    for i in range(count):
        results = [
            RuleResult(
                rule_id=f"rule-{r:02d}",
                outcome=RuleOutcome.HIT if rng.random() < 0.05 else RuleOutcome.NO_HIT,
                action=Outcome.REVIEW,
                score=0.1,
            )
            for r in range(_RULES)
        ]
        results[-1] = RuleResult(
            rule_id="rule-error", outcome=RuleOutcome.ERROR, action=Outcome.ALLOW, error="x"
        )
        risk = rng.random()
        ensemble = EnsembleRow(
            risk=risk,
            model_scores=[
                ModelScore(name="ensemble", score=risk),
                ModelScore(name="xgboost", score=rng.random()),
                ModelScore(name="isolation_forest", score=rng.random()),
            ],
            contributions=[Contribution(feature="amount", value=1.0, contribution=0.2)],
        )
        degraded = rng.random() < 0.01
        out.append(
            decide(
                transaction_id=f"t-{i}",
                rule_results=results,
                ensemble=None if degraded else ensemble,
                thresholds=Thresholds(review=0.5, block=0.9),
                ruleset_version="rs-1",
                model_version="m-1",
                decided_at=_AT,
                failures=[StageFailure(stage="ensemble", message="down")] if degraded else [],
                latency_ms={
                    "queue": 1.0,
                    "features": rng.uniform(0.5, 3),
                    "rules": rng.uniform(0.5, 3),
                    "ensemble": rng.uniform(0.5, 3),
                    "decide": 0.05,
                    "total": rng.uniform(3, 10),
                },
            )
        )
    return out


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-ray", action="store_true", help="do not start Ray first")
    args = parser.parse_args()

    temp_dir: Path | None = None
    if not args.no_ray:
        from runtime import ray_cluster  # noqa: PLC0415 - only when Ray is wanted

        temp_dir = Path(tempfile.mkdtemp(prefix="vigil-bm-"))
        ray_cluster.start_local_ray(temp_dir, num_cpus=1)
    try:
        decisions = make_decisions(args.decisions, args.seed)
        metrics = DecisionMetrics(ray_meters())
        metrics.observe(decisions[:1000])  # warm up (tag caches, first series)
        per_call = np.empty(len(decisions))
        for i, decision in enumerate(decisions):
            started = time.perf_counter_ns()
            metrics.record(decision)
            per_call[i] = time.perf_counter_ns() - started
        batch, batches = 64, 0
        started = time.perf_counter_ns()
        for offset in range(0, len(decisions), batch):
            metrics.observe(decisions[offset : offset + batch])
            batches += 1
        batched_us = (time.perf_counter_ns() - started) / len(decisions) / 1000.0
        p50, p99 = np.percentile(per_call, [50, 99]) / 1000.0
        mean = per_call.mean() / 1000.0
        ray_state = "Ray connected" if temp_dir is not None else "no ray.init"
        print(f"metrics per decision ({ray_state}, {len(decisions)} decisions, {_RULES} rules):")
        print(f"  record():      p50 {p50:6.1f} µs   p99 {p99:6.1f} µs   mean {mean:6.1f} µs")
        print(f"  observe(64):   {batched_us:6.1f} µs per decision ({batches} batches)")
    finally:
        if temp_dir is not None:
            from runtime import ray_cluster  # noqa: PLC0415

            ray_cluster.stop_ray(graceful=False)
            shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
