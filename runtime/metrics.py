"""Vigil's Prometheus metrics: every definition in one list, recorded with Ray's metrics API.

The definitions (:data:`METRICS`) are plain data; the dashboard test and ``docs/metrics.md``
derive from them. Recording uses ``ray.util.metrics``, so Ray's metrics agent exports these next
to Ray Serve's own ``ray_serve_*`` metrics on one endpoint per node:
``http://<node>:<metrics_port>/metrics`` (``metrics_port`` in the settings, passed to ``ray.init``
as ``_metrics_export_port``). Ray prefixes every application metric with ``ray_``, so
``vigil_decisions_total`` is scraped as ``ray_vigil_decisions_total``
(:attr:`MetricSpec.exported_name`); Ray adds the labels ``Component``, ``NodeAddress``,
``SessionName``, ``Version`` and ``WorkerId`` (one series per process).

Who records what:

* the gateway replica, once per decision that reached the decision stream
  (:class:`DecisionMetrics`, a :class:`~engine.contracts.DecisionObserver` of the pipeline):
  outcome, rule hits and errors, model scores, stage latencies, degraded decisions;
* the rules replicas: the rule-set version they score with (:class:`VersionInfo`); the ensemble
  replicas: the model version;
* the stream writer in the ``vigil up`` process (a Ray driver; Ray exports a driver's metrics
  too): batch sizes, rows written, lag (:class:`WriterMetrics`, the writer's
  :class:`~storage.writer.WriterObserver`).

Labels never carry transaction or account ids; ``rule_id`` is bounded by the rule set, ``model``
by the artifact, ``version`` by the versions deployed. Recording one decision costs about a
dozen Ray ``record`` calls, ~30 µs in all (``bench/bench_metrics.py``). Ray computes a histogram's
``_sum`` from bucket midpoints: averages from it are estimates (``docs/metrics.md``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from core.models import Decision, ReasonKind, RuleOutcome
from engine.stages import ENSEMBLE, FEATURES, RULES
from storage.persist import InsertCounts

RAY_PREFIX = "ray_"
"""What Ray's metrics agent puts in front of every application metric name."""
METRICS_PATH = "/metrics"
"""Where the metrics agent serves the Prometheus text format on ``metrics_port``."""


class Kind(enum.StrEnum):
    """Prometheus metric types Ray can export."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its name as recorded, type, meaning, labels and histogram buckets."""

    name: str
    kind: Kind
    description: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def exported_name(self) -> str:
        """The name Prometheus scrapes (Ray's prefix added)."""
        return RAY_PREFIX + self.name

    @property
    def series_names(self) -> tuple[str, ...]:
        """Every sample name this metric produces in a scrape."""
        if self.kind is Kind.HISTOGRAM:
            return tuple(f"{self.exported_name}_{part}" for part in ("bucket", "sum", "count"))
        return (self.exported_name,)


LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
BATCH_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)

STAGE_LATENCY_KEYS: Mapping[str, str] = {
    FEATURES: FEATURES,
    RULES: RULES,
    ENSEMBLE: ENSEMBLE,
    "end_to_end": "total",
}
"""``stage`` label → key of :attr:`Decision.latency_ms` it is read from."""
DEGRADABLE_STAGES = (FEATURES, RULES, ENSEMBLE)
"""``stage`` values of ``vigil_degraded_decisions_total`` (series start at 0)."""

DECISIONS = MetricSpec(
    "vigil_decisions_total",
    Kind.COUNTER,
    "Decisions appended to the decision stream, by outcome.",
    ("outcome",),
)
RULE_HITS = MetricSpec(
    "vigil_rule_hits_total", Kind.COUNTER, "Rules that hit, by rule id.", ("rule_id",)
)
RULE_ERRORS = MetricSpec(
    "vigil_rule_errors_total",
    Kind.COUNTER,
    "Rules that failed to evaluate (outcome error), by rule id.",
    ("rule_id",),
)
MODEL_SCORE = MetricSpec(
    "vigil_model_score",
    Kind.HISTOGRAM,
    "Model scores in [0, 1] of each decision, by model (ensemble, xgboost, isolation_forest).",
    ("model",),
    SCORE_BUCKETS,
)
STAGE_LATENCY = MetricSpec(
    "vigil_stage_latency_seconds",
    Kind.HISTOGRAM,
    "Latency of each decision per stage (features, rules, ensemble; end_to_end: from the "
    "request joining a micro-batch to its decision).",
    ("stage",),
    LATENCY_BUCKETS_S,
)
DEGRADED = MetricSpec(
    "vigil_degraded_decisions_total",
    Kind.COUNTER,
    "Decisions made without a stage that failed, by failed stage.",
    ("stage",),
)
RULESET_INFO = MetricSpec(
    "vigil_ruleset_info",
    Kind.GAUGE,
    "1 for the rule-set version a rules replica scores with (0 for versions it replaced).",
    ("version",),
)
MODEL_INFO = MetricSpec(
    "vigil_model_info",
    Kind.GAUGE,
    "1 for the model version an ensemble replica scores with.",
    ("version",),
)
WRITER_BATCH_SIZE = MetricSpec(
    "vigil_writer_batch_size",
    Kind.HISTOGRAM,
    "Stream entries per batch the writer committed to PostgreSQL.",
    buckets=BATCH_BUCKETS,
)
WRITER_LAG = MetricSpec(
    "vigil_writer_lag_seconds",
    Kind.GAUGE,
    "How far the writer is behind the decision stream: age of the newest entry it committed, "
    "or of the oldest one it is retrying; 0 when it has read everything.",
)
WRITER_ROWS = MetricSpec(
    "vigil_writer_rows_written_total",
    Kind.COUNTER,
    "Rows the writer inserted into PostgreSQL, by table (transactions, decisions, alerts).",
    ("table",),
)

METRICS: tuple[MetricSpec, ...] = (
    DECISIONS,
    RULE_HITS,
    RULE_ERRORS,
    MODEL_SCORE,
    STAGE_LATENCY,
    DEGRADED,
    RULESET_INFO,
    MODEL_INFO,
    WRITER_BATCH_SIZE,
    WRITER_LAG,
    WRITER_ROWS,
)
"""Every metric Vigil defines."""

SERVE_METRICS: tuple[str, ...] = (
    "ray_serve_deployment_replica_healthy",
    "ray_serve_autoscaling_target_replicas",
    "ray_serve_deployment_queued_queries",
    "ray_serve_num_ongoing_requests_at_replicas",
    "ray_serve_replica_processing_queries",
    "ray_serve_deployment_request_counter_total",
    "ray_serve_deployment_processing_latency_ms_bucket",
    "ray_serve_http_request_latency_ms_bucket",
)
"""Ray Serve's own metrics (Ray 2.60 names, as scraped) that the Grafana dashboard uses; the
integration test checks a running engine exports each of them."""


def exported_series_names() -> frozenset[str]:
    """Every sample name a scrape may hold for Vigil's metrics and the Serve ones used."""
    return frozenset(name for spec in METRICS for name in spec.series_names) | frozenset(
        SERVE_METRICS
    )


Tags = dict[str, str]
_HIT, _NO_HIT = RuleOutcome.HIT, RuleOutcome.NO_HIT  # enum member lookups cost ~0.2 µs each
_DEGRADED_REASON = ReasonKind.DEGRADED


class CounterLike(Protocol):
    """What recording needs of a counter (Ray's ``Counter`` through :class:`_RayCounter`)."""

    def inc(self, value: float, tags: Tags) -> None:
        """Add ``value`` (> 0) to the series ``tags``."""
        ...

    def start(self, tags: Tags) -> None:
        """Make the series ``tags`` exist at 0 (so ``rate()`` sees its first increment)."""
        ...


class HistogramLike(Protocol):
    """What recording needs of a histogram."""

    def observe(self, value: float, tags: Tags) -> None:
        """Count ``value`` in the series ``tags``."""
        ...


class GaugeLike(Protocol):
    """What recording needs of a gauge."""

    def set(self, value: float, tags: Tags) -> None:
        """Set the series ``tags`` to ``value``."""
        ...


@dataclass(frozen=True, slots=True)
class Meters:
    """One recording object per metric of :data:`METRICS` (Ray's, or fakes in tests)."""

    counters: Mapping[str, CounterLike]
    histograms: Mapping[str, HistogramLike]
    gauges: Mapping[str, GaugeLike]

    @classmethod
    def build(
        cls,
        counter: Callable[[MetricSpec], CounterLike],
        histogram: Callable[[MetricSpec], HistogramLike],
        gauge: Callable[[MetricSpec], GaugeLike],
    ) -> Meters:
        """Create every metric of :data:`METRICS` with the given factories."""
        return cls(
            counters={s.name: counter(s) for s in METRICS if s.kind is Kind.COUNTER},
            histograms={s.name: histogram(s) for s in METRICS if s.kind is Kind.HISTOGRAM},
            gauges={s.name: gauge(s) for s in METRICS if s.kind is Kind.GAUGE},
        )


class DecisionMetrics:
    """Records decisions on the gateway (outcome, rules, scores, latency, degradation)."""

    def __init__(self, meters: Meters) -> None:
        self._decisions = meters.counters[DECISIONS.name]
        self._hits = meters.counters[RULE_HITS.name]
        self._errors = meters.counters[RULE_ERRORS.name]
        self._degraded = meters.counters[DEGRADED.name]
        self._scores = meters.histograms[MODEL_SCORE.name]
        self._latency = meters.histograms[STAGE_LATENCY.name]
        self._outcome_tags: dict[str, Tags] = {}
        self._rule_tags: dict[str, Tags] = {}
        self._model_tags: dict[str, Tags] = {}
        self._stage_tags = [({"stage": s}, key) for s, key in STAGE_LATENCY_KEYS.items()]
        self._degraded_tags: dict[str, Tags] = {}
        self._ruleset = ""
        for stage in DEGRADABLE_STAGES:
            self._degraded.start(_tags(self._degraded_tags, "stage", stage))

    def observe(self, decisions: Sequence[Decision]) -> None:
        """Record a stored micro-batch: counters once per label value, histograms per decision."""
        outcomes: dict[str, int] = {}
        hits: dict[str, int] = {}
        errors: dict[str, int] = {}
        degraded: dict[str, int] = {}
        for decision in decisions:
            _bump(outcomes, decision.outcome.value)
            if decision.ruleset_version != self._ruleset:
                self._start_rules(decision)
            for result in decision.rule_results:
                if result.outcome is not _NO_HIT:
                    _bump(hits if result.outcome is _HIT else errors, result.rule_id)
            self._observe_histograms(decision)
            if decision.degraded:
                for stage in degraded_stages(decision):
                    _bump(degraded, stage)
        _add(self._decisions, outcomes, self._outcome_tags, "outcome")
        _add(self._hits, hits, self._rule_tags, "rule_id")
        _add(self._errors, errors, self._rule_tags, "rule_id")
        _add(self._degraded, degraded, self._degraded_tags, "stage")

    def record(self, decision: Decision) -> None:
        """Record one decision."""
        self.observe((decision,))

    def _observe_histograms(self, decision: Decision) -> None:
        for score in decision.model_scores:
            self._scores.observe(score.score, _tags(self._model_tags, "model", score.name))
        latency = decision.latency_ms
        for stage_tags, key in self._stage_tags:
            ms = latency.get(key)
            if ms is not None:
                self._latency.observe(ms / 1000.0, stage_tags)

    def _start_rules(self, decision: Decision) -> None:
        """A rule set not seen before: start every new rule's hit and error series at 0."""
        self._ruleset = decision.ruleset_version
        for result in decision.rule_results:
            if result.rule_id not in self._rule_tags:
                tags = _tags(self._rule_tags, "rule_id", result.rule_id)
                self._hits.start(tags)
                self._errors.start(tags)


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _tags(cache: dict[str, Tags], label: str, value: str) -> Tags:
    """The (cached, reused) tag dict ``{label: value}``."""
    tags = cache.get(value)
    if tags is None:
        tags = cache[value] = {label: value}
    return tags


def _add(
    counter: CounterLike, counts: Mapping[str, int], cache: dict[str, Tags], label: str
) -> None:
    for value, count in counts.items():
        counter.inc(float(count), _tags(cache, label, value))


def degraded_stages(decision: Decision) -> list[str]:
    """The stages a degraded decision was made without, from its ``degraded`` reasons.

    :func:`engine.decision.rank_reasons` codes them ``{stage}_unavailable``; a degraded decision
    without such a reason counts as stage ``unknown``.
    """
    stages = [
        reason.code.removesuffix("_unavailable")
        for reason in decision.reasons
        if reason.kind is _DEGRADED_REASON
    ]
    return stages or ["unknown"]


class VersionInfo:
    """An info gauge: 1 for the version in use, 0 for the one it replaced."""

    def __init__(self, gauge: GaugeLike) -> None:
        self._gauge = gauge
        self._current: str | None = None

    def set(self, version: str) -> None:
        """Mark ``version`` as the one in use; call it again and again (every poll, every batch).

        Recording the same value again is cheap (~2.5 µs) and needed: a value recorded before the
        node's metrics agent answers is dropped, and Ray exports a gauge only once recorded.
        """
        if self._current is not None and version != self._current:
            self._gauge.set(0.0, {"version": self._current})
        self._gauge.set(1.0, {"version": version})
        self._current = version


class WriterMetrics:
    """The stream writer's observer (:class:`storage.writer.WriterObserver`) on metrics."""

    def __init__(self, meters: Meters) -> None:
        self._batch = meters.histograms[WRITER_BATCH_SIZE.name]
        self._rows = meters.counters[WRITER_ROWS.name]
        self._lag = meters.gauges[WRITER_LAG.name]
        self._tables = [(f.name, {"table": f.name}) for f in dataclasses.fields(InsertCounts)]
        for _, tags in self._tables:
            self._rows.start(tags)
        self._lag.set(0.0, {})

    def batch_committed(self, *, entries: int, rows: InsertCounts, lag_s: float) -> None:
        """A batch of ``entries`` stream entries was committed, adding ``rows`` per table."""
        self._batch.observe(float(entries), {})
        for table, tags in self._tables:
            count = getattr(rows, table)
            if count > 0:
                self._rows.inc(float(count), tags)
        self._lag.set(lag_s, {})

    def lagging(self, lag_s: float) -> None:
        """The writer is ``lag_s`` seconds behind (0: caught up) without committing."""
        self._lag.set(lag_s, {})


# --- Ray's metrics ----------------------------------------------------------------------------


class _RayCounter:
    def __init__(self, spec: MetricSpec) -> None:
        from ray.util.metrics import Counter  # noqa: PLC0415 - Ray only where it runs

        self._metric: Any = Counter(spec.name, description=spec.description, tag_keys=spec.labels)

    def inc(self, value: float, tags: Tags) -> None:
        self._metric.inc(value, tags)

    def start(self, tags: Tags) -> None:
        # Ray's public ``inc`` refuses 0; the base class records any value (Ray 2.60).
        self._metric._record(0.0, tags)


class _RayHistogram:
    def __init__(self, spec: MetricSpec) -> None:
        from ray.util.metrics import Histogram  # noqa: PLC0415

        self._metric: Any = Histogram(
            spec.name,
            description=spec.description,
            boundaries=list(spec.buckets),
            tag_keys=spec.labels,
        )

    def observe(self, value: float, tags: Tags) -> None:
        self._metric.observe(value, tags)


class _RayGauge:
    def __init__(self, spec: MetricSpec) -> None:
        from ray.util.metrics import Gauge  # noqa: PLC0415

        self._metric: Any = Gauge(spec.name, description=spec.description, tag_keys=spec.labels)

    def set(self, value: float, tags: Tags) -> None:
        self._metric.set(value, tags)


@cache
def ray_meters() -> Meters:
    """This process's Ray metrics, created once (call after ``ray.init`` or inside a replica)."""
    return Meters.build(_RayCounter, _RayHistogram, _RayGauge)
