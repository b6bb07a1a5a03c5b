"""Whatever the gateway accepts is stored and readable: a property test over hostile payloads.

Payloads are drawn close to the edges of the wire schema (trailing newlines, NUL and other control
characters, non-ASCII text, 64-bit and larger integers, extreme timestamps and offsets, long
strings). Each one the gateway's decoder and intake accept is turned into a decision record,
appended to a real Redis stream, written by the real stream writer into a real PostgreSQL, and
read back through the repository: nothing accepted may be dead-lettered or come back different.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.errors import InvalidInputError
from core.models import Decision, Outcome, Transaction
from core.records import DecisionRecord
from serving.intake import admit
from serving.wire import TransactionIn
from storage.database import create_engine
from storage.repository import Repository
from storage.stream import DEAD_LETTER_STREAM, DecisionStream, stream_client
from storage.writer import StreamWriter, WriterConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARRIVED = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOSTILE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
        st.sampled_from(["\x00", "\n", "\r", "\t", " ", "\u2028", "\ufeff", "é", "😀"]),
    ),
    max_size=140,
)
ALMOST_CODE = st.one_of(st.from_regex(r"\A[0-9]{4}\n?\Z"), st.sampled_from(["5411", "5732\n"]))


def _identifier() -> st.SearchStrategy[str]:
    return st.one_of(st.from_regex(r"\A[a-z0-9-]{1,20}\Z"), HOSTILE_TEXT, st.just("x" * 128 + "\n"))


ATTRIBUTE_VALUES = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
PAYLOADS = st.fixed_dictionaries(
    {
        "transaction_id": _identifier(),
        "account_id": _identifier(),
        "amount": st.one_of(
            st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**9), places=4).map(str),
            st.sampled_from(["0", "0.00", "0.01", "999999999.9999", "1e3", "12.50"]),
        ),
        "currency": st.sampled_from(["EUR", "JPY", "EUR\n", "usd"]),
        "merchant_id": _identifier(),
        "merchant_category": ALMOST_CODE,
        "country": st.sampled_from(["FR", "US", "FR\n"]),
        "channel": st.sampled_from(["pos", "ecommerce", "atm"]),
    },
    optional={
        "timestamp": st.one_of(
            st.datetimes(
                # hypothesis takes naive bounds and draws the zone separately
                min_value=datetime(1, 1, 2),  # noqa: DTZ001
                max_value=datetime(9999, 12, 30),  # noqa: DTZ001
                timezones=st.sampled_from(
                    [UTC, *(timezone(timedelta(hours=h)) for h in (-14, -5, 0, 5, 14))]
                ),
            ).map(datetime.isoformat),
            st.sampled_from(["0001-01-01T00:00:00+14:00", "1970-01-01T00:00:00Z"]),
        ),
        "device_id": _identifier(),
        "ip_address": st.sampled_from(["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"]),
        "attributes": st.dictionaries(
            st.one_of(st.from_regex(r"\A[a-z_]{1,10}\Z"), HOSTILE_TEXT),
            ATTRIBUTE_VALUES,
            max_size=4,
        ),
    },
)


def _accepted(payload: dict[str, Any]) -> Transaction | None:
    """The transaction the gateway would score for ``payload``, or ``None`` if it refuses it."""
    try:
        body = msgspec.json.encode(payload)
        wire = msgspec.json.decode(body, type=TransactionIn)
        return admit(wire, arrived_at=ARRIVED, max_future_skew=timedelta(days=365 * 8000))
    except (msgspec.ValidationError, msgspec.EncodeError, InvalidInputError):
        return None


def _record(txn: Transaction) -> DecisionRecord:
    decision = Decision(
        transaction_id=txn.transaction_id,
        outcome=Outcome.REVIEW,
        risk_score=0.6,
        model_scores=[],
        rule_results=[],
        reasons=[],
        ruleset_version="rs",
        model_version="m",
        decided_at=ARRIVED,
        features={"amount": float(txn.amount)},
    )
    return DecisionRecord(transaction=txn, decision=decision, received_at=ARRIVED)


async def _round_trip(records: list[DecisionRecord], database_url: str, redis_url: str) -> None:
    redis = stream_client(redis_url)
    engine = create_engine(database_url)
    try:
        await redis.flushdb()
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE transactions, decisions, alerts CASCADE"))
        await DecisionStream(redis).append(records)
        config = WriterConfig(consumer="w1", block_ms=50, retry_initial_s=0.01, retry_max_s=0.05)
        report = await StreamWriter(redis, engine, config).drain()
        assert report.dead_lettered == 0, await redis.xrange(DEAD_LETTER_STREAM)
        repository = Repository(engine)
        for record in records:
            stored = await repository.get_decision(record.transaction.transaction_id)
            assert stored.transaction == record.transaction
            assert stored.decision.features == record.decision.features
    finally:
        await redis.aclose()
        await engine.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(PAYLOADS, min_size=1, max_size=12))
def test_every_accepted_transaction_is_stored_and_readable(
    batch: list[dict[str, Any]], database_url: str, redis_url: str
) -> None:
    """Each payload the gateway accepts is written to PostgreSQL and reads back unchanged."""
    accepted: dict[str, Transaction] = {}
    for payload in batch:
        txn = _accepted(payload)
        if txn is not None:
            accepted.setdefault(txn.transaction_id, txn)
    if accepted:
        records = [_record(txn) for txn in accepted.values()]
        asyncio.run(_round_trip(records, database_url, redis_url))
