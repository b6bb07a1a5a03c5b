"""What the scoring stages exchange, and the small protocols the engine codes against.

A *stage* works on a whole micro-batch at once and answers per row, so one bad row never fails
its neighbours: a row that could not be processed is a :class:`StageFailure` in its place. The
same stage contracts are met by the local stages (:mod:`engine.stages`) and by the same stages
behind Ray Serve handles (``runtime.remote_stage.RemoteStage``), which is what lets one
:class:`engine.pipeline.ScoringPipeline` run both in-process and on Ray.

Everything here crosses process boundaries in Ray calls, so results are msgspec Structs
(picklable, cheap) rather than live objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from core.labels import KnownLabel
from core.models import Contribution, Decision, FeatureVector, ModelScore, RuleResult, Transaction
from core.payload import PayloadConflict
from core.records import DecisionRecord

UNAVAILABLE_VERSION = "unavailable"
"""Recorded as a rule-set or model version when that stage could not answer."""


class StageFailure(msgspec.Struct, frozen=True, kw_only=True):
    """Why one stage produced nothing for one row (or a whole batch)."""

    stage: str
    message: str


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    """Risk-score cut-offs: ``review <= risk < block`` is review, ``risk >= block`` is block."""

    review: float
    block: float

    def __post_init__(self) -> None:
        """Reject cut-offs outside [0, 1] or in the wrong order."""
        if not 0.0 <= self.review <= self.block <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= review <= block <= 1, "
                f"got review={self.review}, block={self.block}"
            )


class RuleBatch(msgspec.Struct, frozen=True, kw_only=True):
    """The rules stage's answer for a batch: the rule-set version and one entry per row."""

    version: str
    rows: list[list[RuleResult] | StageFailure]


class EnsembleRow(msgspec.Struct, frozen=True, kw_only=True):
    """The models' verdict on one row: the ensemble risk, each named score, top contributions."""

    risk: float
    model_scores: list[ModelScore]
    contributions: list[Contribution] = msgspec.field(default_factory=list)


class EnsembleBatch(msgspec.Struct, frozen=True, kw_only=True):
    """The ensemble stage's answer for a batch: model version, its thresholds, one row each."""

    version: str
    thresholds: Thresholds
    rows: list[EnsembleRow | StageFailure]
    challenger_version: str | None = None
    """The challenger scored in shadow on this batch, if one is live."""
    challenger_risks: list[float] | None = None
    """The challenger's risk per row (same order as ``rows``); stored, never acted on."""


class FeatureClient(Protocol):
    """Records transactions in their windows and returns features as of each event time."""

    async def compute(
        self, txns: Sequence[Transaction]
    ) -> Sequence[FeatureVector | StageFailure | PayloadConflict]:
        """One feature vector (or failure) per transaction, in order; a
        :class:`~core.payload.PayloadConflict` for a transaction whose id was recorded with
        another payload (nothing recorded for it)."""
        ...


class LabelRecorder(Protocol):
    """Tells the online feature store about known labels (the features stage, local or remote)."""

    async def record_labels(self, labels: Sequence[KnownLabel]) -> int:
        """Record ``labels`` in one round trip; how many changed something."""
        ...


class RuleClient(Protocol):
    """Evaluates the current rule set."""

    async def evaluate(
        self, txns: Sequence[Transaction], vectors: Sequence[FeatureVector]
    ) -> RuleBatch:
        """Every rule on every row; ``txns[i]`` goes with ``vectors[i]``."""
        ...

    async def version(self) -> str:
        """The content-hash version of the rule set now scoring."""
        ...


class EnsembleClient(Protocol):
    """Scores feature vectors with the loaded model artifact."""

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        """One ensemble row (or failure) per vector, in order."""
        ...

    async def version(self) -> str:
        """The version of the model artifact now scoring."""
        ...


class DecisionSink(Protocol):
    """Where decisions go durably before a request returns (``storage.stream.DecisionStream``)."""

    async def append(self, records: Sequence[DecisionRecord]) -> Sequence[object]:
        """Append every record in one round trip; one answer per record, in order.

        An answer that is an ``Exception`` means that record alone was not stored (it could not
        be encoded); any other answer (the stream's entry ID, say) means it was. Raises if the
        records could not be stored at all.
        """
        ...

    async def recall(self, transaction_ids: Sequence[str]) -> list[DecisionRecord | None]:
        """The stored record of each id, ``None`` where there is none (for idempotent replays)."""
        ...


class DecisionObserver(Protocol):
    """Hears every decision that reached the sink (metrics); runs on the event loop, cheaply."""

    def observe(self, decisions: Sequence[Decision]) -> None:
        """Record one stored micro-batch's decisions."""
        ...


class OnlineFeatureStore(Protocol):
    """The Redis feature store as the engine needs it (implemented in ``features.online``)."""

    async def record_each(
        self, txns: Sequence[Transaction]
    ) -> list[FeatureVector | PayloadConflict]:
        """Record each transaction once and return its features as of its event time, or a
        conflict where its id was recorded with another payload."""
        ...

    async def record_labels(self, labels: Sequence[KnownLabel]) -> int:
        """Make known labels count in label-aware features (one round trip, idempotent); the
        number of labels that changed something."""
        ...

    async def aclose(self) -> None:
        """Close the store's connections."""
        ...


@runtime_checkable
class Scorer(Protocol):
    """Turns transactions into decisions; what the gateway calls."""

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """One decision per transaction, in order; each one already appended to the stream."""
        ...

    async def ready(self) -> Mapping[str, str]:
        """Versions of what is scoring now (``ruleset_version``, ``model_version``).

        Raises :class:`core.errors.DependencyUnavailableError` when a stage cannot answer.
        """
        ...
