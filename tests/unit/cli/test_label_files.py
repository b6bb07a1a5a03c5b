"""Label files for `vigil labels import`: mappings, formats, and bad rows named by file, row and
column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cli.label_files import read_label_file
from cli.label_mapping import DEFAULT_MAPPING, load_label_mapping
from core.alerts import AlertLabel
from core.errors import ConfigError, DataImportError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHARGEBACK_MAPPING = """\
description: the acquirer's monthly chargebacks
source: {delimiter: ";"}
fields:
  transaction_id: {column: ref}
  label: {column: reason, values: {"4837": fraud, "REV": Legit}}
  known_at: {column: cb_date, format: "%d/%m/%Y %H:%M", timezone: Europe/Paris}
  source: {constant: chargeback}
"""


def write(path: Path, text: str) -> Path:
    """``text`` written to ``path``."""
    path.write_text(text, encoding="utf-8")
    return path


def test_canonical_columns_need_no_mapping(tmp_path: Path) -> None:
    """A CSV with transaction_id,label,known_at[,source] reads as is; source defaults to import,
    labels are read in any case."""
    source = write(
        tmp_path / "labels.csv",
        "transaction_id,label,known_at,source\n"
        "t1,fraud,2026-02-01T10:00:00Z,dispute\n"
        "\n"
        "t2, LEGIT ,2026-02-02T10:00:00+01:00,\n",
    )
    lines = read_label_file(source, DEFAULT_MAPPING, now=NOW)
    assert [(line.where, line.label.transaction_id, line.label.label) for line in lines] == [
        ("row 1", "t1", AlertLabel.FRAUD),
        ("row 2", "t2", AlertLabel.LEGIT),
    ]
    assert [line.label.source for line in lines] == ["dispute", "import"]
    assert lines[1].label.known_at == datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def test_a_mapping_translates_columns_values_and_times(tmp_path: Path) -> None:
    """Columns are renamed, codes mapped to labels, local times given their zone."""
    mapping = load_label_mapping(write(tmp_path / "cb.yaml", CHARGEBACK_MAPPING))
    source = write(
        tmp_path / "cb.csv",
        "ref;reason;cb_date\nx-1;4837;03/02/2026 14:30\nx-2;REV;04/02/2026 09:00\n",
    )
    lines = read_label_file(source, mapping, now=NOW)
    first, second = (line.label for line in lines)
    assert (first.transaction_id, first.label, first.source) == (
        "x-1",
        AlertLabel.FRAUD,
        "chargeback",
    )
    assert first.known_at == datetime(2026, 2, 3, 14, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert second.label is AlertLabel.LEGIT


def test_bad_rows_name_the_file_row_and_column(tmp_path: Path) -> None:
    """Every bad cell is reported with its row and column (and the field it feeds); nothing is
    returned."""
    mapping = load_label_mapping(write(tmp_path / "cb.yaml", CHARGEBACK_MAPPING))
    source = write(
        tmp_path / "cb.csv",
        "ref;reason;cb_date\n"
        "x-1;4837;03/02/2026 14:30\n"
        "x-2;9999;04/02/2026 09:00\n"
        "x 3;REV;31/02/2026 09:00\n"
        "x-4;REV\n",
    )
    with pytest.raises(DataImportError) as refused:
        read_label_file(source, mapping, now=NOW)
    message = str(refused.value)
    assert str(source) in message
    assert "3 of 4 rows are invalid; nothing was imported" in message
    locations = [p.location for p in refused.value.problems]
    assert locations == [
        "row 2, column reason (label)",
        "row 3, column ref (transaction_id)",
        "row 3, column cb_date (known_at)",
        "row 4",
    ]
    assert "'9999' is not among the mapping's values" in refused.value.problems[0].message
    assert "has 2 fields; the header has 3" in refused.value.problems[3].message


def test_a_time_without_offset_or_zone_is_a_row_error(tmp_path: Path) -> None:
    """Canonical known_at values must carry an offset; a future one is refused too."""
    ahead = (NOW + timedelta(days=1)).isoformat()
    source = write(
        tmp_path / "labels.csv",
        f"transaction_id,label,known_at\nt1,fraud,2026-02-01 10:00\nt2,fraud,{ahead}\n",
    )
    with pytest.raises(DataImportError) as refused:
        read_label_file(source, DEFAULT_MAPPING, now=NOW)
    problems = refused.value.problems
    assert [p.location for p in problems] == ["row 1, column known_at", "row 2, column known_at"]
    assert "no UTC offset" in problems[0].message
    assert "in the future" in problems[1].message


def test_missing_canonical_columns_say_how_to_fix_it(tmp_path: Path) -> None:
    """A file without the canonical columns and no mapping names what is missing."""
    source = write(tmp_path / "labels.csv", "id,label\nt1,fraud\n")
    with pytest.raises(DataImportError, match="--mapping") as refused:
        read_label_file(source, DEFAULT_MAPPING, now=NOW)
    assert "column 'transaction_id' is not in" in str(refused.value)


def test_parquet_and_json_lines_files(tmp_path: Path) -> None:
    """Parquet cells keep their types (times, integers); JSON Lines problems name the line."""
    frame = pd.DataFrame(
        {
            "transaction_id": ["t1", "t2"],
            "label": ["fraud", "legit"],
            "known_at": pd.to_datetime(["2026-02-01T10:00:00Z", "2026-02-02T10:00:00Z"]),
        }
    )
    parquet = tmp_path / "labels.parquet"
    frame.to_parquet(parquet)
    lines = read_label_file(parquet, DEFAULT_MAPPING, now=NOW)
    assert [line.label.known_at for line in lines] == [
        datetime(2026, 2, 1, 10, tzinfo=UTC),
        datetime(2026, 2, 2, 10, tzinfo=UTC),
    ]
    jsonl = write(
        tmp_path / "labels.jsonl",
        '{"transaction_id": "t1", "label": "fraud", "known_at": "2026-02-01T10:00:00Z"}\n'
        "\n"
        '{"transaction_id": "t2", "label": "spam", "known_at": "2026-02-01T10:00:00Z"}\n'
        "[1, 2]\n",
    )
    with pytest.raises(DataImportError) as refused:
        read_label_file(jsonl, DEFAULT_MAPPING, now=NOW)
    assert [p.location for p in refused.value.problems] == ["line 3, column label", "line 4"]


def test_mapping_mistakes_name_file_line_and_column(tmp_path: Path) -> None:
    """A mapping with an unknown key, a bad label, source or timezone fails at load, each problem
    at its file:line:col."""
    path = write(
        tmp_path / "bad.yaml",
        "fields:\n"
        "  transaction_id: {column: ref}\n"
        '  label: {column: reason, values: {"1": yes}}\n'
        "  known_at: {column: d, timezone: Mars/Base}\n"
        "  source: {constant: Charge Back}\n"
        "  amount: {column: amt}\n",
    )
    with pytest.raises(ConfigError) as refused:
        load_label_mapping(path)
    locations = [p.location for p in refused.value.problems]
    assert locations == [
        f"{path}:6:3",
        f"{path}:3:41",
        f"{path}:4:35",
        f"{path}:5:22",
    ]


def test_the_example_mapping_loads(tmp_path: Path) -> None:
    """docs/examples/label-mapping.yaml is a valid mapping and reads its documented layout."""
    example = Path(__file__).resolve().parents[3] / "docs" / "examples" / "label-mapping.yaml"
    mapping = load_label_mapping(example)
    source = write(
        tmp_path / "chargebacks.csv",
        "case_id;arn;txn_ref;reason_code;stage;opened_on\nc1;a1;t-9;4837;first;2026-02-03\n",
    )
    [line] = read_label_file(source, mapping, now=NOW)
    assert (line.label.transaction_id, line.label.label, line.label.source) == (
        "t-9",
        AlertLabel.FRAUD,
        "chargeback",
    )
    assert line.label.known_at == datetime(2026, 2, 3, tzinfo=ZoneInfo("Europe/Paris"))
