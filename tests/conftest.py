"""Shared fixtures: real PostgreSQL and Redis for every package's integration tests.

Where the servers come from
    ``VIGIL_TEST_DATABASE_URL`` / ``VIGIL_TEST_REDIS_URL`` when set (CI points them at
    ``postgresql+asyncpg://postgres@127.0.0.1:5432/test`` and ``redis://127.0.0.1:6379/0``);
    otherwise the embedded servers (``storage.embedded``) are started under a temporary directory
    for the session and stopped at its end, so the tests run on a fresh machine with only uv.

Isolation
    Each session works in its own PostgreSQL database (``vigil_test_<random>``, created, migrated
    to head, dropped at the end) and its own Redis logical database (a number from 1 to 15
    leased in DB 0 with a one-hour expiry, so concurrent test runs on one server do not collide).
    ``db_engine`` truncates every table and ``redis_client`` flushes the database before each test.

Fixtures
    ``database_url`` (session)   URL of the migrated session database.
    ``redis_url`` (session)      URL of the leased Redis database.
    ``empty_database`` (function) async factory: URL of a new empty database (dropped at the end).
    ``db_engine`` (function)     AsyncEngine on ``database_url``, all tables empty.
    ``redis_client`` (function)  ``redis.asyncio.Redis`` on ``redis_url`` (bytes, no socket
                                 timeout), database flushed.
    ``make_record`` (function)   factory of valid ``core.records.DecisionRecord`` s.

Every test under ``tests/integration/`` is marked ``integration``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from core.models import (
    Channel,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    ReasonKind,
    RuleOutcome,
    RuleResult,
    Transaction,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine

    from core.records import DecisionRecord

pytest_plugins = ["tests.engine_fixtures"]
"""The engine fixtures (``trained_model_dir``, ``engine_settings``, ``gateway_url``) are shared by
``tests/integration/engine`` and ``tests/e2e``, so one Ray serves the whole session."""
_INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"
_REDIS_LEASE_SECONDS = 3600
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""Event time of the first record ``make_record`` builds."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as ``integration``."""
    for item in items:
        if _INTEGRATION_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back as they were after each test: ``configure_logging``
    is global, and a CLI test that runs ``main()`` configures it (loggers cached meanwhile keep
    the processor list, which is restored in place)."""
    import logging  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    from config.logging import QUIET_LIBRARIES  # noqa: PLC0415

    config = structlog.get_config()
    processors = config["processors"]
    saved_processors = list(processors)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    processors[:] = saved_processors
    structlog.configure(
        processors=processors,
        wrapper_class=config["wrapper_class"],
        context_class=config["context_class"],
        logger_factory=config["logger_factory"],
        cache_logger_on_first_use=config["cache_logger_on_first_use"],
    )
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture(scope="session")
def _embedded_dir() -> Iterator[Path]:
    """Outside pytest's numbered temp dirs, which concurrent sessions prune while we run."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-test-services-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def _postgres_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL on the test PostgreSQL server whose user may create databases."""
    configured = os.environ.get("VIGIL_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    from storage.embedded import EmbeddedPostgres  # noqa: PLC0415

    server = EmbeddedPostgres(request.getfixturevalue("_embedded_dir") / "pg")
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def _redis_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    configured = os.environ.get("VIGIL_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    from storage.embedded import EmbeddedRedis  # noqa: PLC0415

    server = EmbeddedRedis(request.getfixturevalue("_embedded_dir") / "redis")
    yield server.start()
    server.stop()


class DatabaseFactory(Protocol):
    """Creates an empty database and returns its URL."""

    def __call__(self) -> Awaitable[str]: ...


@pytest.fixture(scope="session")
async def _database_factory(_postgres_server_url: str) -> AsyncIterator[DatabaseFactory]:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from storage.database import create_engine, database_url  # noqa: PLC0415

    admin = create_engine(_postgres_server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    async def create() -> str:
        name = f"vigil_test_{secrets.token_hex(6)}"
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        url: URL = database_url(_postgres_server_url).set(database=name)
        return url.render_as_string(hide_password=False)

    yield create
    async with admin.connect() as connection:
        for name in created:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def database_url(_database_factory: DatabaseFactory) -> str:
    """URL of this session's database, migrated to the newest revision."""
    from storage.migrations import upgrade  # noqa: PLC0415

    url = await _database_factory()
    await upgrade(url)
    return url


@pytest.fixture
def empty_database(_database_factory: DatabaseFactory) -> DatabaseFactory:
    """Async factory of new, empty (unmigrated) databases; they are dropped at session end."""
    return _database_factory


@pytest.fixture(scope="session")
async def _session_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    from storage.database import create_engine  # noqa: PLC0415

    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_engine(_session_engine: AsyncEngine) -> AsyncEngine:
    """An engine on the session database with every table emptied first."""
    from sqlalchemy import text  # noqa: PLC0415

    async with _session_engine.begin() as connection:
        tables = (
            await connection.execute(
                text(
                    "SELECT quote_ident(tablename) FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        names = ", ".join(tables)
        if names:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return _session_engine


@pytest.fixture(scope="session")
async def redis_url(_redis_server_url: str) -> AsyncIterator[str]:
    """URL of a Redis logical database leased to this session (1 to 15)."""
    from redis.asyncio import Redis  # noqa: PLC0415

    owner = f"{socket.gethostname()}:{os.getpid()}"
    base = Redis.from_url(_redis_server_url, db=0)
    try:
        for number in range(1, 16):
            key = f"vigil:test-lease:{number}"
            if await base.set(key, owner, nx=True, ex=_REDIS_LEASE_SECONDS):
                break
        else:
            pytest.fail("all Redis databases 1-15 are leased by other test sessions")
        yield _with_db(_redis_server_url, number)
        await base.delete(key)
    finally:
        await base.aclose()


def _with_db(url: str, number: int) -> str:
    """``url`` pointing at logical database ``number``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N (urlunsplit would drop the //)
        query = urlencode({**dict(parse_qsl(parts.query)), "db": str(number)})
        return f"unix://{parts.netloc}{parts.path}?{query}"
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A client on the session's Redis database, flushed before the test."""
    from storage.stream import stream_client  # noqa: PLC0415

    client = stream_client(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


RecordFactory = Callable[..., "DecisionRecord"]


@pytest.fixture
def make_record() -> RecordFactory:
    """Factory of valid decision records: ``make_record(i, outcome=..., account_id=..., ...)``.

    Record ``i`` has transaction ``t<i>`` at ``T0 + i`` minutes; ``review`` / ``block`` records
    hit rule ``r_review`` / ``r_block``; keyword arguments override Transaction or Decision fields.
    """
    from core.records import DecisionRecord  # noqa: PLC0415

    def build(i: int, outcome: Outcome = Outcome.ALLOW, **overrides: Any) -> DecisionRecord:
        at = T0 + timedelta(minutes=i)
        txn_fields = set(Transaction.__struct_fields__)
        txn_overrides = {k: v for k, v in overrides.items() if k in txn_fields}
        decision_overrides = {k: v for k, v in overrides.items() if k not in txn_fields}
        transaction = Transaction(
            **{
                "transaction_id": f"t{i}",
                "account_id": f"acct{i % 3}",
                "amount": Decimal("25.50"),
                "currency": "EUR",
                "timestamp": at,
                "merchant_id": "m1",
                "merchant_category": "5411",
                "country": "FR",
                "channel": Channel.ECOMMERCE,
                "device_id": "dev1",
                "ip_address": "192.0.2.10",
                "attributes": {"promo": True},
                **txn_overrides,
            }
        )
        hit = outcome is not Outcome.ALLOW
        rule_id = f"r_{outcome.value}"
        decision = Decision(
            **{
                "transaction_id": transaction.transaction_id,
                "outcome": outcome,
                "risk_score": {Outcome.ALLOW: 0.1, Outcome.REVIEW: 0.6, Outcome.BLOCK: 0.9}[
                    outcome
                ],
                "model_scores": [ModelScore(name="xgboost", score=0.5)],
                "rule_results": [
                    RuleResult(
                        rule_id=rule_id,
                        outcome=RuleOutcome.HIT if hit else RuleOutcome.NO_HIT,
                        action=outcome,
                    ),
                    RuleResult(
                        rule_id="r_other", outcome=RuleOutcome.NO_HIT, action=Outcome.REVIEW
                    ),
                ],
                "reasons": [
                    Reason(kind=ReasonKind.RULE, code=rule_id, message=f"{rule_id} hit", weight=1.0)
                ]
                if hit
                else [],
                "ruleset_version": "rs-1",
                "model_version": "m-1",
                "decided_at": at + timedelta(milliseconds=5),
                "latency_ms": {"total": 4.2},
                "features": {"amount_sum_by_account_1h": 25.5},
                **decision_overrides,
            }
        )
        return DecisionRecord(transaction=transaction, decision=decision, received_at=at)

    return build
