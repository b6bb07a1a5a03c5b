"""Benchmark: persisting decisions (stream → PostgreSQL).

Part 1 compares ways to insert a batch of decision records (transactions + decisions + alerts,
idempotent on ``transaction_id``) in one database transaction per batch:

* ``row-per-txn``  one INSERT ... ON CONFLICT per table per record, one transaction per record
  (what writing in the request path would cost);
* ``executemany``  SQLAlchemy Core ``insert().on_conflict_do_nothing()`` with a list of rows;
* ``copy``         asyncpg COPY into temporary tables, then INSERT ... SELECT ... ON CONFLICT;
* ``unnest``       one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT per table (what the
  writer uses: ``storage.persist.insert_records``).

Part 2 measures the real path: ``DecisionStream.append`` latency (hot path), then the
``StreamWriter`` draining the stream (per-step latency and rows/s end to end).

Usage::

    uv run python bench/bench_writer.py [--database-url URL] [--redis-url URL] [--rows N]

Without URLs (or ``VIGIL_DATABASE_URL`` / ``VIGIL_REDIS_URL``) it starts the embedded servers in
a temporary directory. It works in a scratch database it creates and drops.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import structlog
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from core.models import (
    Channel,
    Contribution,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    ReasonKind,
    RuleOutcome,
    RuleResult,
    Transaction,
)
from core.records import DecisionRecord
from storage.database import create_engine, database_url
from storage.embedded import EmbeddedPostgres, EmbeddedRedis
from storage.migrations import upgrade
from storage.models import AlertRow, DecisionRow, TransactionRow
from storage.persist import insert_records
from storage.rows import alert_row, decision_row, transaction_row
from storage.stream import DecisionStream, stream_client
from storage.writer import StreamWriter, WriterConfig

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OUTCOMES = [Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK]
Strategy = Callable[[AsyncConnection, Sequence[DecisionRecord]], Awaitable[None]]


def make_records(
    n: int, *, rules: int = 50, features: int = 30, seed: int = 7
) -> list[DecisionRecord]:
    """``n`` records with ``rules`` rule results, ``features`` features, 2 models, 3 reasons.

    About 10% are review/block decisions (alerts).
    """
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        at = T0 + timedelta(milliseconds=int(i * 20))
        outcome = OUTCOMES[int(rng.choice(3, p=[0.9, 0.07, 0.03]))]
        alerting = outcome is not Outcome.ALLOW
        txn = Transaction(
            transaction_id=f"bench-{i}",
            account_id=f"acct-{int(rng.integers(5000))}",
            amount=Decimal(f"{float(rng.lognormal(3, 1)) + 0.01:.2f}"),
            currency="EUR",
            timestamp=at,
            merchant_id=f"m-{int(rng.integers(500))}",
            merchant_category="5411",
            country="FR",
            channel=Channel.ECOMMERCE,
            device_id=f"d-{int(rng.integers(8000))}",
            ip_address="198.51.100.7",
            attributes={"promo": bool(rng.integers(2)), "basket_items": int(rng.integers(1, 9))},
        )
        values: dict[str, float | None] = {
            f"feature_{k}_by_account_1h": float(rng.random()) for k in range(features)
        }
        contributions = [
            Contribution(feature=name, value=value, contribution=float(rng.normal()))
            for name, value in list(values.items())[:5]
        ]
        decision = Decision(
            transaction_id=txn.transaction_id,
            outcome=outcome,
            risk_score=float(rng.random()),
            model_scores=[
                ModelScore(name="xgboost", score=float(rng.random()), contributions=contributions),
                ModelScore(name="isolation_forest", score=float(rng.random())),
            ],
            rule_results=[
                RuleResult(
                    rule_id=f"rule_{k:02d}",
                    outcome=RuleOutcome.HIT if k == 0 and alerting else RuleOutcome.NO_HIT,
                    action=Outcome.REVIEW,
                )
                for k in range(rules)
            ],
            reasons=[
                Reason(kind=ReasonKind.MODEL, code=f"f{k}", message=f"feature {k} high", weight=0.3)
                for k in range(3)
            ],
            ruleset_version="rs-0123456789ab",
            model_version="model-2026-01-01",
            decided_at=at + timedelta(milliseconds=4),
            latency_ms={"features": 0.9, "rules": 0.2, "models": 1.1, "total": 3.4},
            features=values,
        )
        records.append(DecisionRecord(transaction=txn, decision=decision, received_at=at))
    return records


async def executemany(connection: AsyncConnection, records: Sequence[DecisionRecord]) -> None:
    """SQLAlchemy Core executemany with ON CONFLICT DO NOTHING."""
    alerts = [row for r in records if (row := alert_row(r)) is not None]
    await connection.execute(
        pg_insert(TransactionRow).on_conflict_do_nothing(), [transaction_row(r) for r in records]
    )
    await connection.execute(
        pg_insert(DecisionRow).on_conflict_do_nothing(), [decision_row(r.decision) for r in records]
    )
    if alerts:
        await connection.execute(pg_insert(AlertRow).on_conflict_do_nothing(), alerts)


_JSON_COLUMNS = {"attributes", "model_scores", "rule_results", "reasons", "features", "latency_ms"}


def _copy_tuple(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(
        msgspec.json.encode(row[c]).decode() if c in _JSON_COLUMNS else row[c] for c in columns
    )


async def copy_then_insert(connection: AsyncConnection, records: Sequence[DecisionRecord]) -> None:
    """COPY into temporary tables, then INSERT ... SELECT ... ON CONFLICT DO NOTHING."""
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None:
        raise RuntimeError("no asyncpg connection behind the SQLAlchemy connection")
    for table in ("transactions", "decisions"):
        await connection.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS staged_{table} (LIKE {table}) "
                "ON COMMIT DELETE ROWS"
            )
        )
    txn_rows = [transaction_row(r) for r in records]
    dec_rows = [decision_row(r.decision) for r in records]
    txn_cols, dec_cols = list(txn_rows[0]), list(dec_rows[0])
    await raw.copy_records_to_table(
        "staged_transactions",
        records=[_copy_tuple(r, txn_cols) for r in txn_rows],
        columns=txn_cols,
    )
    await raw.copy_records_to_table(
        "staged_decisions", records=[_copy_tuple(r, dec_cols) for r in dec_rows], columns=dec_cols
    )
    await connection.execute(
        text("INSERT INTO transactions SELECT * FROM staged_transactions ON CONFLICT DO NOTHING")
    )
    await connection.execute(
        text("INSERT INTO decisions SELECT * FROM staged_decisions ON CONFLICT DO NOTHING")
    )
    alerts = [row for r in records if (row := alert_row(r)) is not None]
    if alerts:
        await connection.execute(pg_insert(AlertRow).on_conflict_do_nothing(), alerts)


async def unnest(connection: AsyncConnection, records: Sequence[DecisionRecord]) -> None:
    """The writer's way: storage.persist.insert_records."""
    await insert_records(connection, records)


STRATEGIES: dict[str, Strategy] = {
    "row-per-txn": executemany,  # run with batches of one record: one transaction per record
    "executemany": executemany,
    "copy": copy_then_insert,
    "unnest": unnest,
}


def summary(name: str, latencies_s: list[float], rows: int, elapsed_s: float) -> str:
    """One result line: p50/p95/p99 in ms and rows per second."""
    p50, p95, p99 = np.percentile(np.array(latencies_s) * 1000, [50, 95, 99])
    return (
        f"{name:<28} p50 {p50:8.2f} ms  p95 {p95:8.2f} ms  p99 {p99:8.2f} ms  "
        f"{rows / elapsed_s:10,.0f} rows/s"
    )


async def truncate(engine: AsyncEngine) -> None:
    """Empty the decision tables."""
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE transactions, decisions, alerts"))


async def bench_strategy(
    engine: AsyncEngine, name: str, records: list[DecisionRecord], batch: int
) -> str:
    """Insert ``records`` with strategy ``name`` in batches of ``batch``; one summary line."""
    await truncate(engine)
    if name == "row-per-txn":
        batch = 1
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        began = time.perf_counter()
        async with engine.begin() as connection:
            await STRATEGIES[name](connection, chunk)
        latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    return summary(f"{name} (batch {batch})", latencies, len(records), elapsed)


async def bench_path(engine: AsyncEngine, redis_url: str, records: list[DecisionRecord]) -> None:
    """Append every record to the stream, then let the writer drain it."""
    await truncate(engine)
    redis = stream_client(redis_url)
    stream = DecisionStream(redis, name=f"vigil:bench:{secrets.token_hex(4)}")
    latencies: list[float] = []
    start = time.perf_counter()
    for record in records:
        began = time.perf_counter()
        await stream.append_all([record])
        latencies.append(time.perf_counter() - began)
    print(summary("DecisionStream.append", latencies, len(records), time.perf_counter() - start))
    config = WriterConfig(stream=stream.name, consumer="bench", batch_size=500)
    writer = StreamWriter(redis, engine, config)
    await writer.ensure_group()
    steps: list[float] = []
    written = 0
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        report = await writer.step(block=False)
        if report.read == 0:
            break
        steps.append(time.perf_counter() - began)
        written += report.inserted.transactions
    elapsed = time.perf_counter() - start
    print(summary("StreamWriter.step (500)", steps, written, elapsed))
    await redis.delete(writer.config.stream)
    await redis.aclose()


async def main(args: argparse.Namespace) -> None:
    """Run both parts against a scratch database."""
    scratch = f"vigil_bench_{secrets.token_hex(4)}"
    admin = create_engine(args.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{scratch}"'))
    url = database_url(args.database_url).set(database=scratch)
    try:
        await upgrade(url)
        engine = create_engine(url)
        records = make_records(args.rows, rules=args.rules, features=args.features)
        size = len(msgspec.msgpack.encode(records[0]))
        print(
            f"{args.rows} records ({args.rules} rule results, {args.features} features): "
            f"{size} bytes each as a stream entry\n"
        )
        print(await bench_strategy(engine, "row-per-txn", records[: min(2000, args.rows)], 1))
        for batch in args.batch_sizes:
            for name in ("executemany", "copy", "unnest"):
                print(await bench_strategy(engine, name, records, batch))
        print()
        await bench_path(engine, args.redis_url, records)
        await engine.dispose()
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        await admin.dispose()


def cli() -> None:
    """Parse arguments, start embedded servers when no URLs are given, run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get("VIGIL_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("VIGIL_REDIS_URL"))
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rules", type=int, default=50, help="rule results per decision")
    parser.add_argument("--features", type=int, default=30, help="features per decision")
    parser.add_argument(
        "--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500]
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    embedded_dir: Path | None = None
    if not args.database_url or not args.redis_url:
        embedded_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
        if not args.database_url:
            args.database_url = EmbeddedPostgres(embedded_dir / "pg").start()
        if not args.redis_url:
            args.redis_url = EmbeddedRedis(embedded_dir / "redis").start()
        print(f"embedded servers under {embedded_dir}")
    try:
        asyncio.run(main(args))
    finally:
        if embedded_dir is not None:
            EmbeddedRedis(embedded_dir / "redis").stop()
            EmbeddedPostgres(embedded_dir / "pg").stop()
            shutil.rmtree(embedded_dir, ignore_errors=True)


if __name__ == "__main__":
    cli()
