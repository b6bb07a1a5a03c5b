"""`vigil train --from-db` / `vigil evaluate --from-db`: learn from what the engine stored plus
its labels, with only the labels known by the end of the train block; clear errors otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli import model_commands
from cli.main import main
from config.settings import Settings
from core.alerts import AlertLabel
from core.errors import InvalidInputError
from core.records import DecisionRecord
from storage.database import redacted
from storage.labels import LabelStore, NewLabel
from storage.persist import insert_records
from tests.cli_apps import cli_with
from tests.integration.storage.stored_rows import store_frame
from tests.unit.training.train_fixtures import SPEC
from training.generate import generate_dataset

MakeRecord = Callable[..., DecisionRecord]
TRAIN_START, TRAIN_END = pd.Timestamp("2024-01-08T00:00Z"), pd.Timestamp("2024-01-22T00:00Z")
WINDOWS = [
    "--train-start", "2024-01-08", "--train-end", "2024-01-22",
    "--test-start", "2024-01-24", "--test-end", "2024-01-31",
]  # fmt: skip
SMALL = ["--trees", "15", "--forest-trees", "15", "--threads", "1", "--no-report"]


def cli(database_url: str) -> typer.Typer:
    """A `vigil`-like app with train and evaluate, on the test database."""
    return cli_with(model_commands.register, Settings(database_url=database_url))


def spec_file(tmp_path: Path) -> Path:
    """A five-feature spec (fast to compute)."""
    path = tmp_path / "features.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
async def stored(db_engine: AsyncEngine, make_record: MakeRecord) -> pd.DataFrame:
    """~4,000 generated transactions stored as the writer stores them; each fraud labelled a day
    after it happened (by its scenario as the source), except every third fraud of the train
    block, whose chargeback arrives only on 2024-01-26, after the train block. Returns the rows
    with the ``known`` time of each fraud label."""
    generated = generate_dataset(accounts=80, days=31, seed=5, fraud_rate=0.03)
    await store_frame(db_engine, generated, make_record)
    frauds = generated[generated["label"] == 1].copy()
    known = frauds["timestamp"] + pd.Timedelta(days=1)
    in_train = (frauds["timestamp"] >= TRAIN_START) & (frauds["timestamp"] < TRAIN_END)
    late = in_train & (pd.Series(range(len(frauds)), index=frauds.index) % 3 == 0)
    frauds["known"] = known.where(~late, pd.Timestamp("2024-01-26T00:00Z"))
    items = [
        NewLabel(str(tid), AlertLabel.FRAUD, pd.Timestamp(when).to_pydatetime(), str(source))
        for tid, when, source in zip(
            frauds["transaction_id"], frauds["known"], frauds["scenario"], strict=True
        )
    ]
    await LabelStore(db_engine).record(items, by="test")
    return generated.assign(known=frauds["known"])


def test_train_from_db_uses_stored_rows_and_labels_known_by_the_train_end(
    stored: pd.DataFrame, database_url: str, tmp_path: Path
) -> None:
    """The artifact records the database as its source; train frauds whose label arrived after
    the train block are not trained on; evaluate --from-db scores the test block."""
    out = tmp_path / "model"
    features = spec_file(tmp_path)
    result = CliRunner().invoke(
        cli(database_url),
        ["train", "--from-db", "--out", str(out), "--features", str(features), *WINDOWS, *SMALL],
    )
    assert result.exit_code == 0, result.output
    assert f"read {len(stored):,} stored transactions" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_source"] == {"kind": "database", "location": redacted(database_url)}
    assert manifest["data"]["rows"] == len(stored)
    split = manifest["split"]
    train = (stored["timestamp"] >= TRAIN_START) & (stored["timestamp"] < TRAIN_END)
    fraud = stored["label"] == 1
    known_late = stored["known"] > TRAIN_END
    assert split["unlabelled"]["frauds"] == int((train & fraud & known_late).sum()) > 0
    assert split["unlabelled"]["rows"] == int((train & known_late).sum())
    trained_frauds = split["fit"]["frauds"] + split["validation"]["frauds"]
    assert trained_frauds == int((train & fraud & ~known_late).sum())
    assert set(manifest["data"]["scenarios"]) <= set(stored["scenario"])

    evaluated = CliRunner().invoke(
        cli(database_url),
        ["evaluate", "--model", str(out), "--from-db", "--features", str(features)],
    )
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((out / "metrics.json").read_text())
    test = (stored["timestamp"] >= pd.Timestamp("2024-01-24T00:00Z")) & (
        stored["timestamp"] < pd.Timestamp("2024-01-31T00:00Z")
    )
    assert metrics["data"]["rows"] == int(test.sum())
    assert metrics["data"]["frauds"] == int((test & fraud).sum())


@pytest.fixture
async def unlabelled(db_engine: AsyncEngine, make_record: MakeRecord) -> AsyncEngine:
    """Five stored transactions, none labelled."""
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(i) for i in range(5)])
    return db_engine


def test_no_fraud_labels_are_named(
    unlabelled: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    """Stored transactions without any fraud label: the error says labels are missing and how
    to record them; nothing is written."""
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli(database_url),
        ["train", "--from-db", "--out", str(out), "--features", str(spec_file(tmp_path))],
    )
    assert isinstance(result.exception, InvalidInputError)
    assert "no stored transaction is labelled fraud" in str(result.exception)
    assert "vigil labels import" in str(result.exception)
    assert not out.exists()


def test_an_empty_database_exits_2_saying_so(
    db_engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The real entry point: no stored transactions is exit code 2 with a message, no traceback."""
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
    out = tmp_path / "model"
    features = spec_file(tmp_path)
    args = ["vigil", "train", "--from-db", "--out", str(out), "--features", str(features)]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "no transactions are stored in" in err
    assert "Traceback" not in err
    assert not out.exists()
