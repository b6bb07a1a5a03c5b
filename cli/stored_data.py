"""``--from-db`` of ``vigil train`` / ``vigil evaluate``: the dataset the engine stored.

Joins :mod:`storage.training_data` (stored transactions and their labels, streamed from
PostgreSQL in chunks) and :mod:`training.stored` (those chunks as a dataset frame). The database
is the configured one (``VIGIL_DATABASE_URL``, or the embedded server of a running ``vigil up``),
at the newest schema revision.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from cli.context import CliState

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class StoredDataset:
    """The stored rows as a dataset, and where they came from (the URL without its password)."""

    frame: pd.DataFrame
    where: str


def read_stored_dataset(
    ctx: typer.Context, *, labels_known_by: datetime | None = None
) -> StoredDataset:
    """Every stored transaction with its label (as known at ``labels_known_by``, when given)."""
    from cli.ui_commands import require_schema  # noqa: PLC0415 - keep `vigil --help` fast
    from storage.database import redacted  # noqa: PLC0415
    from storage.urls import resolve_url  # noqa: PLC0415

    state = ctx.find_object(CliState) or CliState()
    url = resolve_url(state.settings, "database_url")
    require_schema(url)
    frame = asyncio.run(_read(url, labels_known_by))
    return StoredDataset(frame=frame, where=redacted(url))


async def _read(url: str, labels_known_by: datetime | None) -> pd.DataFrame:
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from storage.database import create_engine  # noqa: PLC0415
    from storage.training_data import stream_labelled_transactions  # noqa: PLC0415
    from training.stored import chunk_frame, combine_chunk_frames  # noqa: PLC0415

    engine = create_engine(url, poolclass=NullPool)
    try:
        stream = stream_labelled_transactions(engine, labels_known_by=labels_known_by)
        frames = [chunk_frame(chunk) async for chunk in stream]  # one chunk in Python at a time
    finally:
        await engine.dispose()
    return combine_chunk_frames(frames)
