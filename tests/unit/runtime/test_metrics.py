"""Metric definitions, and what recording a decision, a rule-set version or a writer batch does."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from config.settings import REPO_DIR
from core.models import Decision, ModelScore, Outcome, RuleOutcome, RuleResult
from engine.contracts import EnsembleRow, StageFailure, Thresholds
from engine.decision import decide
from runtime.metrics import (
    DECISIONS,
    DEGRADED,
    METRICS,
    MODEL_SCORE,
    RULE_ERRORS,
    RULE_HITS,
    RULESET_INFO,
    SERVE_METRICS,
    STAGE_LATENCY,
    WRITER_BATCH_SIZE,
    WRITER_LAG,
    WRITER_ROWS,
    DecisionMetrics,
    Kind,
    Meters,
    MetricSpec,
    Tags,
    VersionInfo,
    WriterMetrics,
    degraded_stages,
    exported_series_names,
)
from storage.persist import InsertCounts

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class FakeMeter:
    """Records every call as ``(value, label items)``, for any metric type."""

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.calls: list[tuple[str, float, tuple[tuple[str, str], ...]]] = []

    def _add(self, verb: str, value: float, tags: Tags) -> None:
        assert set(tags) == set(self.spec.labels), (self.spec.name, tags)
        self.calls.append((verb, value, tuple(sorted(tags.items()))))

    def inc(self, value: float, tags: Tags) -> None:
        assert value > 0
        self._add("inc", value, tags)

    def start(self, tags: Tags) -> None:
        self._add("start", 0.0, tags)

    def observe(self, value: float, tags: Tags) -> None:
        self._add("observe", value, tags)

    def set(self, value: float, tags: Tags) -> None:
        self._add("set", value, tags)

    def totals(self, label: str) -> Counter[str]:
        """Sum of ``inc`` values per value of ``label``."""
        out: Counter[str] = Counter()
        for verb, value, tags in self.calls:
            if verb == "inc":
                out[dict(tags)[label]] += int(value)
        return out

    def values(self, verb: str, **labels: str) -> list[float]:
        """Values of ``verb`` calls whose labels include ``labels``."""
        want = set(labels.items())
        return [v for name, v, tags in self.calls if name == verb and want <= set(tags)]


@pytest.fixture
def meters() -> Meters:
    """Fake meters for every defined metric."""
    return Meters.build(FakeMeter, FakeMeter, FakeMeter)


def _fake(meters: Meters, spec: MetricSpec) -> FakeMeter:
    table: dict[Kind, Any] = {
        Kind.COUNTER: meters.counters,
        Kind.HISTOGRAM: meters.histograms,
        Kind.GAUGE: meters.gauges,
    }
    meter = table[spec.kind][spec.name]
    assert isinstance(meter, FakeMeter)
    return meter


def _decision(
    outcome_rules: dict[str, RuleOutcome] | None = None,
    *,
    failures: list[StageFailure] | None = None,
    ruleset: str = "rs-1",
    risk: float = 0.2,
) -> Decision:
    failed = {f.stage for f in failures or []}
    rules = [
        RuleResult(
            rule_id=rule_id,
            outcome=outcome,
            action=Outcome.REVIEW,
            score=0.0,
            error="boom" if outcome is RuleOutcome.ERROR else None,
        )
        for rule_id, outcome in (outcome_rules or {}).items()
    ]
    ensemble = EnsembleRow(
        risk=risk,
        model_scores=[
            ModelScore(name="ensemble", score=risk),
            ModelScore(name="xgboost", score=0.3),
        ],
    )
    return decide(
        transaction_id="t-1",
        rule_results=None if "rules" in failed else rules,
        ensemble=None if "ensemble" in failed else ensemble,
        thresholds=Thresholds(review=0.5, block=0.9),
        ruleset_version=ruleset,
        model_version="m-1",
        decided_at=AT,
        failures=failures or [],
        latency_ms={"queue": 0.5, "features": 2.0, "rules": 1.0, "ensemble": 3.0, "total": 8.0},
    )


def test_metric_names_are_prometheus_style_and_unique() -> None:
    """Names are valid and unique, counters end in _total, histograms do not, labels are safe."""
    names = [spec.name for spec in METRICS]
    assert len(names) == len(set(names))
    for spec in METRICS:
        assert _NAME.match(spec.name), spec.name
        assert spec.name.startswith("vigil_")
        assert spec.name.endswith("_total") == (spec.kind is Kind.COUNTER), spec.name
        assert (spec.kind is Kind.HISTOGRAM) == bool(spec.buckets), spec.name
        assert list(spec.buckets) == sorted(spec.buckets), spec.name
        assert all(b > 0 for b in spec.buckets), spec.name
        assert not {"transaction_id", "account_id"} & set(spec.labels), spec.name
        assert spec.description


def test_exported_names_carry_rays_prefix_and_histogram_series() -> None:
    """A scrape names metrics ray_vigil_*; a histogram has _bucket, _sum and _count samples."""
    exported = exported_series_names()
    assert "ray_vigil_decisions_total" in exported
    assert {f"ray_vigil_stage_latency_seconds_{s}" for s in ("bucket", "sum", "count")} <= exported
    assert "ray_vigil_stage_latency_seconds" not in exported


def test_a_decision_is_counted_with_its_rules_scores_and_latencies(meters: Meters) -> None:
    """Outcome, rule hits and errors, each model score and each stage's latency in seconds."""
    metrics = DecisionMetrics(meters)
    decision = _decision(
        {"r-hit": RuleOutcome.HIT, "r-miss": RuleOutcome.NO_HIT, "r-err": RuleOutcome.ERROR}
    )
    metrics.record(decision)
    assert _fake(meters, DECISIONS).totals("outcome") == {decision.outcome.value: 1}
    assert _fake(meters, RULE_HITS).totals("rule_id") == {"r-hit": 1}
    assert _fake(meters, RULE_ERRORS).totals("rule_id") == {"r-err": 1}
    assert _fake(meters, MODEL_SCORE).values("observe", model="ensemble") == [0.2]
    assert _fake(meters, MODEL_SCORE).values("observe", model="xgboost") == [0.3]
    latency = _fake(meters, STAGE_LATENCY)
    assert latency.values("observe", stage="features") == [pytest.approx(0.002)]
    assert latency.values("observe", stage="rules") == [pytest.approx(0.001)]
    assert latency.values("observe", stage="ensemble") == [pytest.approx(0.003)]
    assert latency.values("observe", stage="end_to_end") == [pytest.approx(0.008)]
    assert _fake(meters, DEGRADED).totals("stage") == {}


def test_a_micro_batch_increments_each_counter_once_per_label(meters: Meters) -> None:
    """Three decisions with the same outcome and hit make one increment of 3 per counter."""
    metrics = DecisionMetrics(meters)
    metrics.observe([_decision({"r-hit": RuleOutcome.HIT}) for _ in range(3)])
    outcome_incs = _fake(meters, DECISIONS).values("inc")
    assert outcome_incs == [3.0]
    assert _fake(meters, RULE_HITS).values("inc") == [3.0]
    assert len(_fake(meters, STAGE_LATENCY).values("observe", stage="rules")) == 3


def test_every_rule_of_a_new_rule_set_starts_at_zero(meters: Meters) -> None:
    """Hit and error series of each rule exist at 0 from the first decision of its set."""
    metrics = DecisionMetrics(meters)
    metrics.record(_decision({"a": RuleOutcome.NO_HIT, "b": RuleOutcome.NO_HIT}))
    metrics.record(_decision({"a": RuleOutcome.NO_HIT, "b": RuleOutcome.NO_HIT}))
    metrics.record(_decision({"c": RuleOutcome.NO_HIT}, ruleset="rs-2"))
    for spec in (RULE_HITS, RULE_ERRORS):
        started = [dict(tags)["rule_id"] for verb, _, tags in _fake(meters, spec).calls]
        assert started == ["a", "b", "c"]


def test_degraded_decisions_are_counted_by_failed_stage(meters: Meters) -> None:
    """Series start at 0 for each stage; a decision without the ensemble counts there."""
    metrics = DecisionMetrics(meters)
    degraded = _fake(meters, DEGRADED)
    assert sorted(dict(t)["stage"] for v, _, t in degraded.calls if v == "start") == [
        "ensemble",
        "features",
        "rules",
    ]
    metrics.record(_decision(failures=[StageFailure(stage="ensemble", message="down")]))
    assert degraded.totals("stage") == {"ensemble": 1}


def test_degraded_stages_reads_the_reasons_decide_writes() -> None:
    """The stage names come back from the reasons engine.decision ranks for failures."""
    both = _decision(
        failures=[
            StageFailure(stage="rules", message="slow"),
            StageFailure(stage="ensemble", message="down"),
        ]
    )
    assert degraded_stages(both) == ["rules", "ensemble"]


def test_version_info_marks_the_current_version_and_clears_the_previous(meters: Meters) -> None:
    """Setting a version sets it to 1 (again on every call); a new one sets the old to 0."""
    gauge = _fake(meters, RULESET_INFO)
    info = VersionInfo(gauge)
    info.set("v1")
    info.set("v1")
    info.set("v2")
    assert gauge.calls == [
        ("set", 1.0, (("version", "v1"),)),
        ("set", 1.0, (("version", "v1"),)),
        ("set", 0.0, (("version", "v1"),)),
        ("set", 1.0, (("version", "v2"),)),
    ]


def test_writer_metrics_record_batches_rows_and_lag(meters: Meters) -> None:
    """A committed batch: its size, rows per table (from 0), the lag; caught up sets lag 0."""
    writer = WriterMetrics(meters)
    rows = _fake(meters, WRITER_ROWS)
    assert sorted(dict(t)["table"] for v, _, t in rows.calls if v == "start") == [
        "alerts",
        "decisions",
        "transactions",
    ]
    writer.batch_committed(
        entries=5, rows=InsertCounts(transactions=5, decisions=5, alerts=0), lag_s=0.25
    )
    writer.lagging(0.0)
    assert _fake(meters, WRITER_BATCH_SIZE).values("observe") == [5.0]
    assert rows.totals("table") == {"transactions": 5, "decisions": 5}
    assert _fake(meters, WRITER_LAG).values("set") == [0.0, 0.25, 0.0]


def test_docs_list_every_metric() -> None:
    """docs/metrics.md names every metric (as scraped) and every Serve metric the dashboard uses."""
    text = (REPO_DIR / "docs" / "metrics.md").read_text(encoding="utf-8")
    for spec in METRICS:
        assert f"`{spec.exported_name}`" in text, spec.exported_name
    for name in SERVE_METRICS:
        assert f"`{name.removesuffix('_bucket')}`" in text, name
