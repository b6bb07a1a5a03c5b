"""The model registry in PostgreSQL: which artifacts exist, which one decides, which one shadows.

A registered version is one row of ``model_versions`` (:class:`storage.models.ModelVersionRow`):
where the artifact is, the SHA-256 that pins it (``artifacts.artifact_checksum``), its feature
spec version, metrics and training window. At most one version is the **champion** (its scores
decide) and at most one the **challenger** (scored in shadow on live traffic, never acting; its
scores go to ``shadow_scores``). Every change is an event in ``model_events``, kept forever:
who registered, promoted, rolled back or set a challenger, when, and which champion it replaced.

:meth:`ModelRegistry.promote` makes a version the champion; :meth:`ModelRegistry.rollback` gives
the role back to the champion the current one replaced when it was promoted (a second rollback
goes one further back, never ping-pongs). Each change is one PostgreSQL transaction that first
locks ``model_versions``, so concurrent changes apply one after the other. The registry only
records; the running engine loads what it says (``runtime`` applies :meth:`selection` to the
ensemble replicas in place, and ``vigil up`` reads it at start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.admin import (
    ModelEvent,
    ModelRef,
    ModelRegistryView,
    ModelRole,
    ModelSelection,
    ModelVersionInfo,
)
from core.clock import Clock, SystemClock
from core.errors import ConflictError, InvalidInputError, NotFoundError, Problem
from storage.models import Base, ModelEventRow, ModelVersionRow

HISTORY_LIMIT: Final = 50
"""Events :meth:`ModelRegistry.view` returns (newest first)."""

_versions = Base.metadata.tables[ModelVersionRow.__tablename__]
_events = Base.metadata.tables[ModelEventRow.__tablename__]
_LOCK: Final = text("LOCK TABLE model_versions IN SHARE ROW EXCLUSIVE MODE")


@dataclass(frozen=True, slots=True)
class NewModel:
    """What registering an artifact records (read from its manifest by the caller)."""

    version: str
    artifact_dir: str
    checksum: str
    feature_spec_version: str
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    training: Mapping[str, str | None] = field(default_factory=dict)


class ModelRegistry:
    """Register model versions, promote and roll back the champion, set the challenger."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    async def register(self, model: NewModel, *, by: str) -> tuple[ModelVersionInfo, bool]:
        """Record ``model``; ``(info, True)`` when new, ``(info, False)`` when it was already
        registered with the same checksum. The same version with another checksum is a
        :class:`ConflictError` (two different artifacts cannot share a version)."""
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK)
            existing = await _row(connection, model.version)
            if existing is not None:
                if existing["checksum"] != model.checksum:
                    raise ConflictError(
                        f"model {model.version} is registered with another artifact",
                        [
                            Problem(
                                model.artifact_dir,
                                f"manifest SHA-256 {model.checksum[:12]}…, registered "
                                f"{existing['checksum'][:12]}… at {existing['artifact_dir']}",
                            )
                        ],
                    )
                return _info(existing), False
            now = self._clock.now()
            await connection.execute(
                _versions.insert().values(
                    version=model.version,
                    artifact_dir=model.artifact_dir,
                    checksum=model.checksum,
                    feature_spec_version=model.feature_spec_version,
                    metrics=dict(model.metrics),
                    training=dict(model.training),
                    role=None,
                    registered_at=now,
                    registered_by=by,
                )
            )
            await _event(connection, model.version, "registered", by, now)
            created = await _row(connection, model.version)
        assert created is not None  # noqa: S101 - inserted just above in this transaction
        return _info(created), True

    async def models(self) -> list[ModelVersionInfo]:
        """Every registered version, newest registration first."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(_versions).order_by(_versions.c.registered_at.desc())
                )
            ).mappings()
            return [_info(row) for row in rows]

    async def selection(self) -> ModelSelection:
        """The champion and challenger live traffic should be scored with."""
        async with self._engine.connect() as connection:
            return await _selection(connection)

    async def view(self) -> ModelRegistryView:
        """Every version, the selection and the latest events, read in one transaction."""
        async with self._engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(_versions).order_by(_versions.c.registered_at.desc())
                )
            ).mappings()
            models = [_info(row) for row in rows]
            events = (
                await connection.execute(
                    select(_events).order_by(_events.c.id.desc()).limit(HISTORY_LIMIT)
                )
            ).mappings()
            history = [
                ModelEvent(
                    version=e["version"],
                    action=e["action"],
                    actor=e["actor"],
                    at=e["at"],
                    previous_champion=e["previous_champion"],
                )
                for e in events
            ]
            return ModelRegistryView(
                models=models, selection=await _selection(connection), history=history
            )

    async def promote(self, version: str, *, by: str) -> ModelSelection:
        """Make ``version`` the champion (a challenger promoted leaves the challenger slot
        empty). Promoting the champion again changes nothing."""
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK)
            row = await _require(connection, version)
            if row["role"] != ModelRole.CHAMPION:
                previous = await _holder(connection, ModelRole.CHAMPION)
                await _make_champion(connection, version, by, self._clock.now())
                await _event(
                    connection, version, "promoted", by, self._clock.now(), previous=previous
                )
            return await _selection(connection)

    async def ref(self, version: str) -> ModelRef:
        """Where the registered ``version`` is and the checksum that pins it."""
        async with self._engine.connect() as connection:
            return _ref(await _require(connection, version))

    async def rollback_target(self) -> ModelRef:
        """The model :meth:`rollback` would make the champion (raises when there is none)."""
        async with self._engine.connect() as connection:
            _, previous = await _rollback_pair(connection)
            return _ref(await _require(connection, previous))

    async def rollback(self, *, by: str) -> ModelSelection:
        """Give the champion role back to the version the current champion replaced."""
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK)
            current, previous = await _rollback_pair(connection)
            await _make_champion(connection, previous, by, self._clock.now())
            await _event(
                connection, previous, "rolled_back", by, self._clock.now(), previous=current
            )
            return await _selection(connection)

    async def set_challenger(self, version: str | None, *, by: str) -> ModelSelection:
        """Score ``version`` in shadow on live traffic (``None``: no challenger)."""
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK)
            current = await _holder(connection, ModelRole.CHALLENGER)
            if version is None:
                if current is not None:
                    await _clear_role(connection, ModelRole.CHALLENGER)
                    await _event(connection, current, "challenger_cleared", by, self._clock.now())
                return await _selection(connection)
            row = await _require(connection, version)
            if row["role"] == ModelRole.CHAMPION:
                raise InvalidInputError(
                    "cannot set the challenger",
                    [Problem("version", f"{version} is the champion")],
                )
            if current != version:
                await _clear_role(connection, ModelRole.CHALLENGER)
                await connection.execute(
                    update(_versions)
                    .where(_versions.c.version == version)
                    .values(role=ModelRole.CHALLENGER.value)
                )
                await _event(connection, version, "challenger_set", by, self._clock.now())
            return await _selection(connection)


async def _rollback_pair(connection: AsyncConnection) -> tuple[str, str]:
    """The champion and the version it replaced when it was last promoted."""
    current = await _holder(connection, ModelRole.CHAMPION)
    if current is None:
        raise InvalidInputError(
            "nothing to roll back", [Problem("champion", "no model has been promoted yet")]
        )
    previous = (
        await connection.execute(
            select(_events.c.previous_champion)
            .where(_events.c.version == current, _events.c.action == "promoted")
            .order_by(_events.c.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if previous is None:
        raise InvalidInputError(
            "nothing to roll back",
            [Problem("champion", f"{current} did not replace another registered model")],
        )
    return current, previous


def _ref(row: RowMapping) -> ModelRef:
    return ModelRef(
        version=row["version"], artifact_dir=row["artifact_dir"], checksum=row["checksum"]
    )


async def _row(connection: AsyncConnection, version: str) -> RowMapping | None:
    return (
        (await connection.execute(select(_versions).where(_versions.c.version == version)))
        .mappings()
        .one_or_none()
    )


async def _require(connection: AsyncConnection, version: str) -> RowMapping:
    row = await _row(connection, version)
    if row is None:
        raise NotFoundError(
            f"no registered model {version!r}; `vigil models list` shows the registered ones"
        )
    return row


async def _holder(connection: AsyncConnection, role: ModelRole) -> str | None:
    return (
        await connection.execute(select(_versions.c.version).where(_versions.c.role == role.value))
    ).scalar_one_or_none()


async def _clear_role(connection: AsyncConnection, role: ModelRole) -> None:
    await connection.execute(
        update(_versions).where(_versions.c.role == role.value).values(role=None)
    )


async def _make_champion(connection: AsyncConnection, version: str, by: str, now: datetime) -> None:
    await _clear_role(connection, ModelRole.CHAMPION)
    await connection.execute(
        update(_versions)
        .where(_versions.c.version == version)
        .values(role=ModelRole.CHAMPION.value, promoted_at=now, promoted_by=by)
    )


async def _event(
    connection: AsyncConnection,
    version: str,
    action: str,
    actor: str,
    at: datetime,
    *,
    previous: str | None = None,
) -> None:
    await connection.execute(
        _events.insert().values(
            version=version, action=action, actor=actor, at=at, previous_champion=previous
        )
    )


async def _selection(connection: AsyncConnection) -> ModelSelection:
    rows = (
        await connection.execute(select(_versions).where(_versions.c.role.is_not(None)))
    ).mappings()
    refs: dict[str, ModelRef] = {row["role"]: _ref(row) for row in rows}
    return ModelSelection(
        champion=refs.get(ModelRole.CHAMPION.value),
        challenger=refs.get(ModelRole.CHALLENGER.value),
    )


def _info(row: RowMapping | Mapping[str, Any]) -> ModelVersionInfo:
    return ModelVersionInfo(
        version=row["version"],
        artifact_dir=row["artifact_dir"],
        checksum=row["checksum"],
        feature_spec_version=row["feature_spec_version"],
        role=ModelRole(row["role"]) if row["role"] else None,
        metrics=dict(row["metrics"]),
        training=dict(row["training"]),
        registered_at=row["registered_at"],
        registered_by=row["registered_by"],
        promoted_at=row["promoted_at"],
        promoted_by=row["promoted_by"],
    )
