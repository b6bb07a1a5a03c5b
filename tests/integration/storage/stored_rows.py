"""Store a generated dataset's rows as the engine would, for the tests of training from the
database."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from core.models import Channel, Transaction
from core.records import DecisionRecord
from storage.persist import insert_records
from training.dataset import transactions_from_frame

MakeRecord = Callable[..., DecisionRecord]


def records_of(frame: pd.DataFrame, make_record: MakeRecord) -> list[DecisionRecord]:
    """One decision record per dataset row, its transaction exactly the row's."""
    fields = Transaction.__struct_fields__
    records = []
    for txn, attributes in zip(transactions_from_frame(frame), frame["attributes"], strict=True):
        values = {name: getattr(txn, name) for name in fields}
        values["channel"] = Channel(values["channel"])
        values["attributes"] = {} if pd.isna(attributes) else json.loads(attributes)
        records.append(make_record(0, **values))
    return records


async def store_frame(
    engine: AsyncEngine, frame: pd.DataFrame, make_record: MakeRecord, *, batch: int = 1000
) -> None:
    """Insert ``frame``'s rows as the stream writer does (one statement per table per batch)."""
    records = records_of(frame, make_record)
    async with engine.begin() as connection:
        for start in range(0, len(records), batch):
            await insert_records(connection, records[start : start + batch])
