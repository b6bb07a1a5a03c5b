"""Aggregate reads for dashboards: decision rates, outcome mix, scores, rules, latency, summaries.

Every query covers a :class:`TimeWindow` ``[since, until)`` of decision time and is bucketed in
SQL (``date_bin``, ``width_bucket``, ``percentile_cont``), so a dashboard costs a handful of
index range scans however many decisions there are. Empty buckets are filled here, in Python,
so a chart's x axis never has gaps. Results are frozen values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import InvalidInputError, Problem
from core.models import Outcome, Transaction
from storage.models import Base, TransactionRow

BUCKET_ORIGIN: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""Buckets start at whole multiples of their width from here (so minutes start at :00)."""
SCORE_BINS: Final = 20
_BUCKET_STEPS: Final = (
    (timedelta(hours=1), timedelta(minutes=1)),
    (timedelta(hours=6), timedelta(minutes=5)),
    (timedelta(hours=24), timedelta(minutes=15)),
    (timedelta(days=7), timedelta(hours=1)),
)
AGE_BUCKETS: Final = (
    ("< 1 h", timedelta(hours=1)),
    ("1-4 h", timedelta(hours=4)),
    ("4-24 h", timedelta(hours=24)),
    ("1-7 d", timedelta(days=7)),
    ("> 7 d", None),
)
"""Open-alert age groups: a label and the (exclusive) upper bound of the age."""
_transactions = Base.metadata.tables[TransactionRow.__tablename__]


def choose_bucket(span: timedelta) -> timedelta:
    """A bucket width giving roughly 24-100 points over ``span``."""
    for longest, bucket in _BUCKET_STEPS:
        if span <= longest:
            return bucket
    return timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Decisions made in ``[since, until)``, charted in buckets of ``bucket``."""

    since: datetime
    until: datetime
    bucket: timedelta

    def __post_init__(self) -> None:
        """Reject naive datetimes, empty windows and non-positive buckets."""
        problems = [
            Problem(name, "must include a timezone")
            for name, value in (("since", self.since), ("until", self.until))
            if value.utcoffset() is None
        ]
        if not problems and self.since >= self.until:
            problems.append(Problem("until", "must be after since"))
        if self.bucket <= timedelta(0):
            problems.append(Problem("bucket", "must be positive"))
        if problems:
            raise InvalidInputError("invalid time window", problems)

    @classmethod
    def last(cls, span: timedelta, now: datetime) -> TimeWindow:
        """The ``span`` before ``now``, with a bucket width chosen for it."""
        return cls(since=now - span, until=now, bucket=choose_bucket(span))

    def bucket_starts(self) -> list[datetime]:
        """Start of every bucket overlapping the window, aligned on :data:`BUCKET_ORIGIN`."""
        first = BUCKET_ORIGIN + ((self.since - BUCKET_ORIGIN) // self.bucket) * self.bucket
        starts = []
        at = first
        while at < self.until:
            starts.append(at)
            at += self.bucket
        return starts


@dataclass(frozen=True, slots=True)
class OutcomeBucket:
    """How many decisions of each outcome one time bucket saw."""

    start: datetime
    allow: int
    review: int
    block: int

    @property
    def total(self) -> int:
        """Every decision of the bucket."""
        return self.allow + self.review + self.block


@dataclass(frozen=True, slots=True)
class ScoreBin:
    """Decisions with a risk score in ``[lower, upper)`` (the last bin includes 1.0)."""

    lower: float
    upper: float
    allow: int
    review: int
    block: int


@dataclass(frozen=True, slots=True)
class RuleActivity:
    """How often one rule hit or failed in a window, and when it last hit."""

    rule_id: str
    hits: int
    errors: int
    last_hit: datetime | None


@dataclass(frozen=True, slots=True)
class StageLatency:
    """Latency percentiles of one pipeline stage, in milliseconds."""

    stage: str
    p50: float
    p99: float
    count: int


@dataclass(frozen=True, slots=True)
class AgeGroup:
    """Open alerts whose age falls in one group."""

    label: str
    review: int
    block: int


@dataclass(frozen=True, slots=True)
class DailySummary:
    """One day of decisions and alerts (days in the given time zone)."""

    day: date
    decisions: int
    allow: int
    review: int
    block: int
    degraded: int
    mean_risk: float
    p99_total_ms: float | None
    alerts: int
    open_alerts: int
    fraud: int
    legit: int


@dataclass(frozen=True, slots=True)
class ServedVersions:
    """The rule-set and model versions of the latest decision, and when it was made."""

    ruleset_version: str
    model_version: str
    decided_at: datetime


_LATEST_SQL = text(
    "SELECT ruleset_version, model_version, decided_at FROM decisions "
    "ORDER BY decided_at DESC LIMIT 1"
)
_OUTCOMES_SQL = text(
    "SELECT date_bin(:bucket, decided_at, :origin) AS start, outcome, count(*) AS n "
    "FROM decisions WHERE decided_at >= :since AND decided_at < :until GROUP BY 1, 2"
)
_SCORES_SQL = text(
    "SELECT least(width_bucket(risk_score, 0.0, 1.0, :bins), :bins) AS bin, outcome, "
    "count(*) AS n FROM decisions WHERE decided_at >= :since AND decided_at < :until "
    "GROUP BY 1, 2"
)
_RULES_SQL = text(
    "SELECT r.value->>'rule_id' AS rule_id, "
    "count(*) FILTER (WHERE r.value->>'outcome' = 'hit') AS hits, "
    "count(*) FILTER (WHERE r.value->>'outcome' = 'error') AS errors, "
    "max(d.decided_at) FILTER (WHERE r.value->>'outcome' = 'hit') AS last_hit "
    "FROM decisions AS d CROSS JOIN LATERAL jsonb_array_elements(d.rule_results) AS r(value) "
    "WHERE d.decided_at >= :since AND d.decided_at < :until "
    'AND (d.rule_results @> \'[{"outcome": "hit"}]\' '
    'OR d.rule_results @> \'[{"outcome": "error"}]\') '
    "AND r.value->>'outcome' IN ('hit', 'error') "
    "GROUP BY 1 ORDER BY hits DESC, errors DESC, rule_id"
)
_LATENCY_SQL = text(
    "SELECT s.key AS stage, "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY s.value::float8) AS p50, "
    "percentile_cont(0.99) WITHIN GROUP (ORDER BY s.value::float8) AS p99, count(*) AS n "
    "FROM decisions AS d CROSS JOIN LATERAL jsonb_each_text(d.latency_ms) AS s(key, value) "
    "WHERE d.decided_at >= :since AND d.decided_at < :until GROUP BY 1"
)
_AGE_COUNTS_SQL = text(
    "SELECT width_bucket(extract(epoch FROM (:now - created_at))::float8, "
    "CAST(:edges AS float8[])) AS grp, outcome, "
    "count(*) AS n FROM alerts WHERE status = 'open' GROUP BY 1, 2"
)
_DAILY_SQL = text(
    "WITH d AS ("
    " SELECT timezone(:tz, decided_at)::date AS day, outcome, risk_score, degraded,"
    " (latency_ms->>'total')::float8 AS total_ms"
    " FROM decisions WHERE decided_at >= :since AND decided_at < :until"
    "), a AS ("
    " SELECT timezone(:tz, created_at)::date AS day, count(*) AS alerts,"
    " count(*) FILTER (WHERE status = 'open') AS open_alerts,"
    " count(*) FILTER (WHERE label = 'fraud') AS fraud,"
    " count(*) FILTER (WHERE label = 'legit') AS legit"
    " FROM alerts WHERE created_at >= :since AND created_at < :until GROUP BY 1"
    ") "
    "SELECT d.day, count(*) AS decisions,"
    " count(*) FILTER (WHERE d.outcome = 'allow') AS allow,"
    " count(*) FILTER (WHERE d.outcome = 'review') AS review,"
    " count(*) FILTER (WHERE d.outcome = 'block') AS block,"
    " count(*) FILTER (WHERE d.degraded) AS degraded, avg(d.risk_score) AS mean_risk,"
    " percentile_cont(0.99) WITHIN GROUP (ORDER BY d.total_ms) AS p99_total_ms,"
    " coalesce(max(a.alerts), 0) AS alerts, coalesce(max(a.open_alerts), 0) AS open_alerts,"
    " coalesce(max(a.fraud), 0) AS fraud, coalesce(max(a.legit), 0) AS legit "
    "FROM d LEFT JOIN a ON a.day = d.day GROUP BY d.day ORDER BY d.day DESC"
)


class Analytics:
    """Dashboard queries over the decision tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def outcome_series(self, window: TimeWindow) -> list[OutcomeBucket]:
        """Decisions per bucket and outcome, one entry per bucket of the window (zeros included)."""
        params = {**_bounds(window), "bucket": window.bucket, "origin": BUCKET_ORIGIN}
        counts: dict[datetime, dict[str, int]] = {}
        async with self._engine.connect() as connection:
            for row in (await connection.execute(_OUTCOMES_SQL, params)).mappings():
                counts.setdefault(row["start"], {})[row["outcome"]] = row["n"]
        return [
            OutcomeBucket(
                start=start,
                allow=counts.get(start, {}).get(Outcome.ALLOW.value, 0),
                review=counts.get(start, {}).get(Outcome.REVIEW.value, 0),
                block=counts.get(start, {}).get(Outcome.BLOCK.value, 0),
            )
            for start in window.bucket_starts()
        ]

    async def score_histogram(
        self, window: TimeWindow, *, bins: int = SCORE_BINS
    ) -> list[ScoreBin]:
        """Risk-score distribution by outcome in ``bins`` equal bins of [0, 1]."""
        counts: dict[int, dict[str, int]] = {}
        async with self._engine.connect() as connection:
            result = await connection.execute(_SCORES_SQL, {**_bounds(window), "bins": bins})
            for row in result.mappings():
                counts.setdefault(row["bin"], {})[row["outcome"]] = row["n"]
        width = 1.0 / bins
        return [
            ScoreBin(
                lower=round((i - 1) * width, 6),
                upper=round(i * width, 6),
                allow=counts.get(i, {}).get(Outcome.ALLOW.value, 0),
                review=counts.get(i, {}).get(Outcome.REVIEW.value, 0),
                block=counts.get(i, {}).get(Outcome.BLOCK.value, 0),
            )
            for i in range(1, bins + 1)
        ]

    async def rule_activity(self, window: TimeWindow) -> list[RuleActivity]:
        """Rules that hit or failed in the window, most hits first."""
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_RULES_SQL, _bounds(window))).mappings().all()
        return [
            RuleActivity(
                rule_id=row["rule_id"],
                hits=row["hits"],
                errors=row["errors"],
                last_hit=row["last_hit"],
            )
            for row in rows
        ]

    async def stage_latency(self, window: TimeWindow) -> list[StageLatency]:
        """p50 / p99 latency of every recorded stage, slowest p99 first."""
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_LATENCY_SQL, _bounds(window))).mappings().all()
        stages = [
            StageLatency(stage=row["stage"], p50=row["p50"], p99=row["p99"], count=row["n"])
            for row in rows
        ]
        return sorted(stages, key=lambda s: (-s.p99, s.stage))

    async def open_alerts_by_age(self, now: datetime) -> list[AgeGroup]:
        """Open alerts grouped by age at ``now`` (see :data:`AGE_BUCKETS`)."""
        edges = [0.0] + [b.total_seconds() for _, b in AGE_BUCKETS if b is not None]
        counts: dict[int, dict[str, int]] = {}
        async with self._engine.connect() as connection:
            result = await connection.execute(_AGE_COUNTS_SQL, {"now": now, "edges": edges})
            for row in result.mappings():
                group = max(int(row["grp"]), 1)  # clock skew: "created in the future" is new
                counts.setdefault(group, {})[row["outcome"]] = row["n"]
        return [
            AgeGroup(
                label=label,
                review=counts.get(i, {}).get(Outcome.REVIEW.value, 0),
                block=counts.get(i, {}).get(Outcome.BLOCK.value, 0),
            )
            for i, (label, _) in enumerate(AGE_BUCKETS, start=1)
        ]

    async def daily_summary(
        self, since: datetime, until: datetime, *, timezone: str = "UTC"
    ) -> list[DailySummary]:
        """One row per day with decisions in ``[since, until)``, newest day first."""
        params = {**_bounds(TimeWindow(since, until, timedelta(days=1))), "tz": timezone}
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_DAILY_SQL, params)).mappings().all()
        return [
            DailySummary(
                day=row["day"],
                decisions=row["decisions"],
                allow=row["allow"],
                review=row["review"],
                block=row["block"],
                degraded=row["degraded"],
                mean_risk=float(row["mean_risk"]),
                p99_total_ms=row["p99_total_ms"],
                alerts=row["alerts"],
                open_alerts=row["open_alerts"],
                fraud=row["fraud"],
                legit=row["legit"],
            )
            for row in rows
        ]

    async def latest_versions(self) -> ServedVersions | None:
        """What the engine scored with most recently (``None`` before the first decision)."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(_LATEST_SQL)).mappings().first()
        if row is None:
            return None
        return ServedVersions(
            ruleset_version=row["ruleset_version"],
            model_version=row["model_version"],
            decided_at=row["decided_at"],
        )

    async def transactions(self, transaction_ids: Sequence[str]) -> dict[str, Transaction]:
        """The stored transactions among ``transaction_ids``, by id (missing ones are absent)."""
        if not transaction_ids:
            return {}
        query = select(_transactions).where(
            _transactions.c.transaction_id.in_(list(transaction_ids))
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        fields = Transaction.__struct_fields__
        return {
            row["transaction_id"]: msgspec.convert({f: row[f] for f in fields}, Transaction)
            for row in rows
        }


def _bounds(window: TimeWindow) -> dict[str, datetime]:
    return {"since": window.since, "until": window.until}
