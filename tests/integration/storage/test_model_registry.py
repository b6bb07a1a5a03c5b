"""The model registry in PostgreSQL: register, promote, roll back, challenger, history; shadow
scores stored by the writer and read back for the champion/challenger comparison."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.admin import ModelRole
from core.alerts import AlertLabel
from core.clock import ManualClock
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.models import ModelScore, Outcome
from core.records import DecisionRecord, ShadowScore
from storage.labels import LabelStore, NewLabel
from storage.model_registry import ModelRegistry, NewModel
from storage.persist import insert_records
from storage.shadow import shadow_outcomes

MakeRecord = Callable[..., DecisionRecord]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def model(version: str, checksum: str = "a" * 64) -> NewModel:
    """A registry entry for ``version``."""
    return NewModel(
        version=version,
        artifact_dir=f"/models/{version}",
        checksum=checksum,
        feature_spec_version="fs-1",
        metrics={"test_average_precision": 0.8},
        training={"fit_start": "2026-01-01T00:00:00+00:00"},
    )


@pytest.fixture
async def registry(db_engine: AsyncEngine) -> ModelRegistry:
    """A registry with m1, m2, m3 registered (nothing promoted)."""
    reg = ModelRegistry(db_engine, clock=ManualClock(NOW))
    for version in ("m1", "m2", "m3"):
        await reg.register(model(version), by="alice")
    return reg


async def test_registering_twice_is_idempotent_but_another_artifact_conflicts(
    registry: ModelRegistry,
) -> None:
    """The same version and checksum is 'already registered'; another checksum is a conflict."""
    info, created = await registry.register(model("m1"), by="bob")
    assert (info.version, info.registered_by, created) == ("m1", "alice", False)
    with pytest.raises(ConflictError, match="registered with another artifact"):
        await registry.register(model("m1", checksum="b" * 64), by="bob")


async def test_promote_sets_one_champion_and_rollback_walks_back(registry: ModelRegistry) -> None:
    """m1 → m2 → m3 promoted; rollback gives m2, then m1, then there is nothing left."""
    for version in ("m1", "m2", "m3"):
        selection = await registry.promote(version, by="alice")
        assert selection.champion is not None
        assert selection.champion.version == version
    roles = {m.version: m.role for m in await registry.models()}
    assert roles == {"m1": None, "m2": None, "m3": ModelRole.CHAMPION}
    assert (await registry.rollback(by="bob")).champion.version == "m2"  # type: ignore[union-attr]
    assert (await registry.rollback(by="bob")).champion.version == "m1"  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError, match="nothing to roll back"):
        await registry.rollback(by="bob")
    history = (await registry.view()).history
    assert [(e.action, e.version, e.previous_champion) for e in history[:2]] == [
        ("rolled_back", "m1", "m2"),
        ("rolled_back", "m2", "m3"),
    ]


async def test_promoting_the_champion_again_changes_nothing(registry: ModelRegistry) -> None:
    """A repeated promote records no second event."""
    await registry.promote("m1", by="alice")
    await registry.promote("m1", by="alice")
    actions = [e.action for e in (await registry.view()).history]
    assert actions.count("promoted") == 1


async def test_challenger_is_set_cleared_and_promoted(registry: ModelRegistry) -> None:
    """A challenger can be set, cannot be the champion, and leaves the slot when promoted."""
    await registry.promote("m1", by="alice")
    with pytest.raises(InvalidInputError, match="is the champion"):
        await registry.set_challenger("m1", by="alice")
    selection = await registry.set_challenger("m2", by="alice")
    assert selection.challenger is not None
    assert selection.challenger.version == "m2"
    promoted = await registry.promote("m2", by="alice")
    assert (promoted.champion.version, promoted.challenger) == ("m2", None)  # type: ignore[union-attr]
    await registry.set_challenger("m3", by="alice")
    assert (await registry.set_challenger(None, by="alice")).challenger is None


async def test_unknown_versions_are_not_found(registry: ModelRegistry) -> None:
    """Promoting or shadowing an unregistered version names the command that lists them."""
    with pytest.raises(NotFoundError, match="vigil models list"):
        await registry.promote("nope", by="alice")
    with pytest.raises(NotFoundError):
        await registry.set_challenger("nope", by="alice")


async def test_concurrent_promotions_leave_exactly_one_champion(registry: ModelRegistry) -> None:
    """Changes lock the table: whatever the order, one champion and one event each."""
    await asyncio.gather(*(registry.promote(v, by="x") for v in ("m1", "m2", "m3")))
    champions = [m.version for m in await registry.models() if m.role is ModelRole.CHAMPION]
    assert len(champions) == 1
    history = (await registry.view()).history
    assert sorted(e.version for e in history if e.action == "promoted") == ["m1", "m2", "m3"]


async def test_shadow_scores_are_stored_and_compared_on_labelled_rows(
    db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """The writer stores each record's shadow score; the comparison reads labelled ones only."""
    records = []
    for i in range(4):
        record = make_record(
            i,
            Outcome.REVIEW if i == 0 else Outcome.ALLOW,
            model_scores=[
                ModelScore(name="xgboost", score=0.9),
                ModelScore(name="ensemble", score=0.5 + 0.1 * i),
            ],
        )
        records.append(
            msgspec.structs.replace(
                record, shadow=ShadowScore(model_version="challenger-1", risk=0.1 * i)
            )
        )
    async with db_engine.begin() as connection:
        await insert_records(connection, records)
        await insert_records(connection, records)  # a replayed batch stores nothing twice
    labels = LabelStore(db_engine, clock=ManualClock(NOW))
    known = records[0].transaction.timestamp + timedelta(days=1)
    await labels.record(
        [
            NewLabel(
                transaction_id=r.transaction.transaction_id,
                label=label,
                known_at=known,
                source="chargeback",
            )
            for r, label in zip(
                records, [AlertLabel.FRAUD, AlertLabel.LEGIT, AlertLabel.LEGIT], strict=False
            )
        ],
        by="alice",
    )
    outcomes = await shadow_outcomes(db_engine, since=None)
    assert len(outcomes) == 3  # t3 has no label
    by_score = sorted(outcomes, key=lambda o: o.challenger_score)
    assert [o.fraud for o in by_score] == [True, False, False]
    assert [o.alerted for o in by_score] == [True, False, False]
    assert [o.champion_score for o in by_score] == pytest.approx([0.5, 0.6, 0.7])
    assert {o.challenger_version for o in outcomes} == {"challenger-1"}
    assert await shadow_outcomes(db_engine, since=NOW + timedelta(days=3650)) == []
