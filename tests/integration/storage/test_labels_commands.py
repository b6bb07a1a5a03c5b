"""`vigil labels import` against the test database, and through a gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from cli import labels_commands
from cli.label_files import read_label_file
from cli.label_mapping import DEFAULT_MAPPING
from cli.labels_commands import send_through_gateway
from config.settings import Settings
from core.alerts import AlertLabel
from core.clock import ManualClock
from core.errors import DataImportError, DependencyUnavailableError
from core.labels import KnownLabel
from core.models import Decision, Transaction
from core.records import DecisionRecord
from serving.app import create_app
from serving.readiness import ProbeReadiness
from serving.settings import GatewaySettings
from storage.database import create_engine
from storage.labels import LabelEvent, LabelStore
from storage.persist import insert_records
from storage.repository import Repository
from tests.cli_apps import cli_with

MakeRecord = Callable[..., DecisionRecord]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAPPING = """\
fields:
  transaction_id: {column: ref}
  label: {constant: fraud}
  known_at: {column: opened, format: "%Y-%m-%d", timezone: UTC}
  source: {constant: chargeback}
"""


def cli(settings: Settings) -> typer.Typer:
    """A `vigil`-like app with the label commands, using ``settings``."""
    return cli_with(labels_commands.register, settings)


@pytest.fixture
async def stored(db_engine: AsyncEngine, make_record: MakeRecord) -> AsyncEngine:
    """Stored transactions t0..t2."""
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(i) for i in range(3)])
    return db_engine


def chargebacks(tmp_path: Path, rows: str) -> tuple[Path, Path]:
    """A chargeback CSV with ``rows`` under a header, and its mapping."""
    source = tmp_path / "chargebacks.csv"
    source.write_text("ref,opened\n" + rows, encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return source, mapping


def test_good_file_is_stored_and_summarised(
    tmp_path: Path, database_url: str, stored: AsyncEngine
) -> None:
    """Every row is stored as a chargeback label; the summary counts them, names unknown ids,
    and says the online store was not told."""
    source, mapping = chargebacks(
        tmp_path, "t0,2026-01-10\nt1,2026-01-11\nt-404,2026-01-12\nt0,2026-01-10\n"
    )
    result = CliRunner().invoke(
        cli(Settings(database_url=database_url)),
        ["labels", "import", str(source), "--mapping", str(mapping)],
    )
    assert result.exit_code == 0, result.output
    assert f"read 4 labels from {source}" in result.stdout
    assert "recorded 2, unchanged 1, unknown transaction 1" in result.stdout
    assert "unknown transaction ids: t-404" in result.stdout
    assert "written to PostgreSQL only" in result.stderr
    assert "--gateway URL" in result.stderr


def test_imported_labels_are_in_the_label_store(
    tmp_path: Path, database_url: str, stored: AsyncEngine
) -> None:
    """The imported label carries its known_at, source and who imported it."""
    source, mapping = chargebacks(tmp_path, "t2,2026-01-10\n")
    args = ["labels", "import", str(source), "-m", str(mapping)]
    result = CliRunner().invoke(cli(Settings(database_url=database_url)), args)
    assert result.exit_code == 0, result.output
    [event] = asyncio.run(_history(database_url, "t2"))
    assert (event.known.label, event.known.source) == (AlertLabel.FRAUD, "chargeback")
    assert event.known.known_at == datetime(2026, 1, 10, tzinfo=UTC)
    assert event.recorded_by.startswith("cli:")


async def _history(database_url: str, transaction_id: str) -> list[LabelEvent]:
    """The label history, read on this thread's own loop (the CLI runs its own)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        return await LabelStore(engine).history(transaction_id)
    finally:
        await engine.dispose()


async def test_a_bad_row_names_file_row_and_column_and_stores_nothing(
    tmp_path: Path, database_url: str, stored: AsyncEngine
) -> None:
    """One bad row fails the import, naming the file, the row and the column; nothing is
    stored."""
    source, mapping = chargebacks(tmp_path, "t0,2026-01-10\nt1,10/01/2026\n")
    args = ["labels", "import", str(source), "--mapping", str(mapping)]
    result = CliRunner().invoke(cli(Settings(database_url=database_url)), args)
    assert isinstance(result.exception, DataImportError)
    message = str(result.exception)
    assert str(source) in message
    assert "row 2, column opened (known_at): '10/01/2026'" in message
    assert await LabelStore(stored).current(["t0", "t1"]) == {}


def test_canonical_file_with_many_unknown_ids(
    tmp_path: Path, database_url: str, stored: AsyncEngine
) -> None:
    """A file with the canonical columns needs no mapping; unknown ids are not fatal and only
    the first few are named."""
    rows = "".join(f"u{i},fraud,2026-02-01T00:00:00Z\n" for i in range(15))
    source = tmp_path / "labels.csv"
    source.write_text("transaction_id,label,known_at\nt1,legit,2026-02-01T00:00:00Z\n" + rows)
    result = CliRunner().invoke(
        cli(Settings(database_url=database_url)), ["labels", "import", str(source)]
    )
    assert result.exit_code == 0, result.output
    assert "recorded 1, unchanged 0, unknown transaction 15" in result.stdout
    assert "u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, ... (15 in all)" in result.stdout


class Publisher:
    """Remembers what the gateway pushed."""

    def __init__(self) -> None:
        self.published: list[KnownLabel] = []

    async def publish(self, labels: Sequence[KnownLabel]) -> None:
        """Remember."""
        self.published.extend(labels)


class UnusedScorer:
    """Never scores."""

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """Fail loudly."""
        raise AssertionError("not scoring here")

    async def ready(self) -> Mapping[str, str]:
        """No stages."""
        return {}


async def test_import_through_the_gateway_is_pushed_online(
    tmp_path: Path, stored: AsyncEngine
) -> None:
    """With a gateway the labels are sent to POST /v1/labels: stored, pushed to the online store,
    and summarised per item."""
    publisher = Publisher()
    app = create_app(
        settings=GatewaySettings(auth_enabled=False),
        scorer=UnusedScorer(),
        records=Repository(stored),
        readiness=ProbeReadiness({}),
        clock=ManualClock(NOW),
        labels=LabelStore(stored, clock=ManualClock(NOW)),
        label_publisher=publisher,
    )
    source = tmp_path / "labels.csv"
    source.write_text(
        "transaction_id,label,known_at,source\n"
        "t0,fraud,2026-02-01T00:00:00Z,dispute\n"
        "nope,fraud,2026-02-01T00:00:00Z,dispute\n"
    )
    lines = read_label_file(source, DEFAULT_MAPPING, now=NOW)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    summary = await send_through_gateway("http://vigil.test", None, lines, transport=transport)
    assert summary.online is True
    assert summary.unknown_ids == ["nope"]
    assert [(label.transaction_id, label.source) for label in publisher.published] == [
        ("t0", "dispute")
    ]
    assert (await LabelStore(stored).current(["t0"]))["t0"].label is AlertLabel.FRAUD


async def test_an_unreachable_gateway_is_a_dependency_error(tmp_path: Path) -> None:
    """A gateway that does not answer fails the import with a clear message."""
    source = tmp_path / "labels.csv"
    source.write_text("transaction_id,label,known_at\nt0,fraud,2026-02-01T00:00:00Z\n")
    lines = read_label_file(source, DEFAULT_MAPPING, now=NOW)
    with pytest.raises(DependencyUnavailableError, match="sending the whole file again is safe"):
        await send_through_gateway("http://127.0.0.1:1", None, lines)
