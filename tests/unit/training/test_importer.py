"""Importing foreign CSVs: converted per the mapping, bad rows named by source row and column."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataImportError
from training.dataset import read_dataset
from training.importer import import_file, rejects_path

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "import-mapping.yaml"

KAGGLE_HEADER = (
    ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,"
    "lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)
KAGGLE_ROWS = [
    '0,2019-01-01 00:00:18,2703186189652095,"fraud_Rippin, Kub and Mann",misc_net,4.97,Jennifer,'
    "Banks,F,561 Perry Cove,Moravian Falls,NC,28654,36.0788,-81.1781,3495,Psychologist,1988-03-09,"
    "0b242abb623afc578575680df30655b9,1325376018,36.011293,-82.048315,0",
    "1,2019-07-04 12:30:00,630423337322,fraud_Heller Gutmann and Zieme,grocery_pos,107.23,"
    "Stephanie,Gill,F,43039 Riley Greens,Orient,WA,99160,48.8878,-118.2105,149,Teacher,"
    "1978-06-21,1f76529f8574734946361c461b024d99,1325376044,49.159047,-118.186462,1",
    "2,2019-11-03 01:30:00,38859492057661,fraud_Lind-Buckridge,entertainment,220.11,Edward,"
    "Sanchez,M,594 White Dale,Malad City,ID,83252,42.1808,-112.262,4154,Designer,1962-01-19,"
    "a1a22d70485983eac12b5b88dad1cf95,1325376051,43.150704,-112.154481,0",
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    """A file ``name`` in ``tmp_path`` holding ``text``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def kaggle_csv(tmp_path: Path, rows: list[str] = KAGGLE_ROWS) -> Path:
    """A small CSV in the Kaggle credit-card layout."""
    return write(tmp_path, "fraudTrain.csv", "\n".join([KAGGLE_HEADER, *rows]) + "\n")


SIMPLE_MAPPING = """\
fields:
  transaction_id: {column: id}
  account_id: {column: card}
  amount: {column: amt}
  currency: {constant: EUR}
  timestamp: {column: ts, format: iso8601, timezone: Europe/Berlin}
  merchant_id: {column: shop}
  merchant_category: {constant: "5411"}
  country: {constant: DE}
  channel: {column: kind, values: {web: ecommerce, store: pos}}
  device_id: {column: device}
label: {column: fraud, values: {"yes": 1, "no": 0}}
"""
SIMPLE_HEADER = "id,card,amt,ts,shop,kind,device,fraud"


def simple_csv(tmp_path: Path, *rows: str) -> Path:
    """A CSV for SIMPLE_MAPPING."""
    return write(tmp_path, "source.csv", "\n".join([SIMPLE_HEADER, *rows]) + "\n")


def test_example_mapping_imports_the_kaggle_layout(tmp_path: Path) -> None:
    """The documented mapping turns the Kaggle layout into a valid Vigil dataset."""
    out = tmp_path / "train.parquet"
    summary = import_file(kaggle_csv(tmp_path, KAGGLE_ROWS[:2]), EXAMPLE, out)
    assert (summary.rows_read, summary.rows_written, summary.rows_rejected) == (2, 2, 0)
    assert summary.rejects is None
    data = read_dataset(out).set_index("transaction_id")
    first = data.loc["0b242abb623afc578575680df30655b9"]
    assert first["timestamp"] == pd.Timestamp("2019-01-01T05:00:18Z")  # EST is UTC-5
    assert first["merchant_id"] == "fraud_Rippin,_Kub_and_Mann"
    assert (first["merchant_category"], first["channel"]) == ("5999", "ecommerce")
    assert (first["currency"], first["country"], first["amount"]) == ("USD", "US", 4.97)
    assert json.loads(str(first["attributes"])) == {
        "customer_city": "Moravian Falls",
        "customer_state": "NC",
        "customer_zip": "28654",
    }
    second = data.loc["1f76529f8574734946361c461b024d99"]
    assert second["timestamp"] == pd.Timestamp("2019-07-04T16:30:00Z")  # EDT is UTC-4
    assert (second["channel"], second["label"], first["label"]) == ("pos", 1, 0)


def test_ambiguous_local_times_are_errors_not_guesses(tmp_path: Path) -> None:
    """01:30 on the night clocks go back happens twice: the row is rejected, not guessed."""
    with pytest.raises(DataImportError) as caught:
        import_file(kaggle_csv(tmp_path), EXAMPLE, tmp_path / "out.csv")
    message = str(caught.value)
    assert "1 of 3 rows are invalid, nothing was written" in message
    assert caught.value.problems[0].location == "row 3, column trans_date_trans_time (timestamp)"
    assert "ambiguous in America/New_York" in caught.value.problems[0].message
    assert not (tmp_path / "out.csv").exists()


def test_zero_amount_rows_are_imported(tmp_path: Path) -> None:
    """A zero-amount row (a card verification) is a valid row, not a reject that fails the file."""
    mapping = write(tmp_path, "m.yaml", SIMPLE_MAPPING)
    source = simple_csv(
        tmp_path,
        "t1,c1,0,2024-05-01 10:00:00,s1,web,d1,no",
        "t2,c1,0.00,2024-05-01 10:05:00,s1,web,,yes",
    )
    summary = import_file(source, mapping, tmp_path / "out.csv")
    assert (summary.rows_written, summary.rows_rejected) == (2, 0)
    assert read_dataset(tmp_path / "out.csv")["amount"].tolist() == [0.0, 0.0]


def test_bad_rows_name_source_row_column_and_value(tmp_path: Path) -> None:
    """Each bad cell is reported with the source row, the source column, the field and value."""
    mapping = write(tmp_path, "m.yaml", SIMPLE_MAPPING)
    source = simple_csv(
        tmp_path,
        "t1,c1,12.50,2024-05-01 10:00:00,s1,web,d1,no",
        "t2,c1,-3,2024-05-01 10:05:00,s1,web,,yes",
        "t3,c2,7,yesterday,s1,phone,,maybe",
        "t1,c3,1,2024-05-01T10:00:00Z,s2,store,,no",
    )
    with pytest.raises(DataImportError) as caught:
        import_file(source, mapping, tmp_path / "out.csv")
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("row 2, column amt (amount)", "must be 0 or more (got '-3')"),
        (
            "row 3, column ts (timestamp)",
            "is not an ISO 8601 timestamp (e.g. 2024-05-01T13:45:00) (got 'yesterday')",
        ),
        (
            "row 3, column kind (channel)",
            "is not among the mapping's `values` (add it, or set `default` or `keep_unmapped`)"
            " (got 'phone')",
        ),
        (
            "row 3, column fraud (label)",
            "is not a label value of the mapping ('yes', 'no') (got 'maybe')",
        ),
        ("row 4, column id (transaction_id)", "duplicates the transaction_id of row 1 (got 't1')"),
    ]
    assert not list(tmp_path.glob("out*"))


def test_skip_invalid_writes_good_rows_and_a_rejects_file(tmp_path: Path) -> None:
    """With skip_invalid the valid rows are written and the others listed with reasons."""
    mapping = write(tmp_path, "m.yaml", SIMPLE_MAPPING)
    source = simple_csv(
        tmp_path,
        "t1,c1,12.50,2024-05-01 10:00:00,s1,web,d1,no",
        "t2,c1,-3,2024-05-01 10:05:00,s1,web,,yes",
        "t3,c2,7,2024-05-01T09:00:00+00:00,s1,store,,yes",
    )
    out = tmp_path / "out.csv"
    summary = import_file(source, mapping, out, skip_invalid=True)
    assert (summary.rows_read, summary.rows_written, summary.rows_rejected) == (3, 2, 1)
    assert summary.rejects == rejects_path(out) == tmp_path / "out.rejects.csv"
    data = read_dataset(out)
    assert data["transaction_id"].tolist() == ["t1", "t3"]
    assert data["timestamp"].tolist() == [
        pd.Timestamp("2024-05-01T08:00:00Z"),  # 10:00 in Berlin (CEST)
        pd.Timestamp("2024-05-01T09:00:00Z"),
    ]
    assert data["device_id"].isna().tolist() == [False, True]
    rejects = pd.read_csv(summary.rejects, dtype=str, keep_default_na=False)
    assert rejects.columns.tolist()[:3] == ["source_row", "problems", "id"]
    assert rejects.loc[0, "source_row"] == "2"
    assert rejects.loc[0, "problems"] == "column amt (amount): must be 0 or more (got '-3')"
    assert rejects.loc[0, "amt"] == "-3"


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("unix_s", "1714557600", "2024-05-01T10:00:00Z"),
        ("unix_s", "1714557600.25", "2024-05-01T10:00:00.25Z"),
        ("unix_ms", "1714557600123", "2024-05-01T10:00:00.123Z"),
        ("iso8601", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("'%d/%m/%Y %H:%M %z'", "01/05/2024 12:00 +0200", "2024-05-01T10:00:00Z"),
    ],
)
def test_timestamp_formats(tmp_path: Path, fmt: str, value: str, expected: str) -> None:
    """Unix seconds/milliseconds, ISO 8601 and strftime formats all land in UTC."""
    text = SIMPLE_MAPPING.replace("format: iso8601, timezone: Europe/Berlin", f"format: {fmt}")
    mapping = write(tmp_path, "m.yaml", text)
    out = tmp_path / "out.parquet"
    import_file(simple_csv(tmp_path, f'"t1",c1,1,"{value}",s1,web,d1,no'), mapping, out)
    assert read_dataset(out)["timestamp"].iloc[0] == pd.Timestamp(expected)


def test_naive_iso_times_without_a_timezone_are_rejected(tmp_path: Path) -> None:
    """An ISO time without an offset, and no timezone in the mapping, is a row error."""
    text = SIMPLE_MAPPING.replace(", timezone: Europe/Berlin", "")
    mapping = write(tmp_path, "m.yaml", text)
    with pytest.raises(DataImportError) as caught:
        import_file(
            simple_csv(tmp_path, "t1,c1,1,2024-05-01 10:00,s1,web,d1,no"),
            mapping,
            tmp_path / "o.csv",
        )
    assert "has no UTC offset" in caught.value.problems[0].message


def test_generated_ids_scenarios_and_kept_values(tmp_path: Path) -> None:
    """Row-number ids (when asked for), a scenario column and kept unmapped values import."""
    text = (
        SIMPLE_MAPPING.replace("{column: id}", '{generate: row_number, prefix: "src-"}')
        .replace(
            "values: {web: ecommerce, store: pos}}",
            "values: {web: ecommerce}, keep_unmapped: true}",
        )
        .replace(
            "label:",
            "scenario: {column: kind_of_fraud, values: {none: legit}, keep_unmapped: true}\nlabel:",
        )
    )
    mapping = write(tmp_path, "m.yaml", text)
    source = write(
        tmp_path,
        "s.csv",
        "id,card,amt,ts,shop,kind,device,fraud,kind_of_fraud\n"
        "x,c1,1,2024-05-01T10:00:00Z,s1,web,,no,none\n"
        "x,c1,2,2024-05-01T10:01:00Z,s1,atm,,yes,card_testing\n",
    )
    out = tmp_path / "out.csv"
    import_file(source, mapping, out)
    data = read_dataset(out)
    assert data["transaction_id"].tolist() == ["src-1", "src-2"]
    assert data["channel"].tolist() == ["ecommerce", "atm"]
    assert data["scenario"].tolist() == ["legit", "card_testing"]


def test_a_column_missing_from_the_source_points_into_the_mapping(tmp_path: Path) -> None:
    """A mapped column absent from the CSV is reported at its place in the mapping."""
    mapping = write(tmp_path, "m.yaml", SIMPLE_MAPPING)
    source = write(
        tmp_path, "s.csv", "id,card,amount,ts,shop,kind,device,fraud\nt1,c1,1,x,s,web,,no\n"
    )
    with pytest.raises(DataImportError) as caught:
        import_file(source, mapping, tmp_path / "out.csv")
    problem = caught.value.problems[0]
    assert problem.location == f"{mapping}:4:20"
    assert problem.message.startswith(f"column 'amt' is not in {source}")


def test_empty_and_headerless_sources_are_errors(tmp_path: Path) -> None:
    """A file with no data rows, or nothing at all, is an error."""
    mapping = write(tmp_path, "m.yaml", SIMPLE_MAPPING)
    with pytest.raises(DataImportError, match="no data rows"):
        import_file(simple_csv(tmp_path), mapping, tmp_path / "out.csv")
    with pytest.raises(DataImportError, match="is empty"):
        import_file(write(tmp_path, "e.csv", ""), mapping, tmp_path / "out.csv")
