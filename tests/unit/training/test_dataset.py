"""Vigil dataset files: exact round trips, and every bad row reported with its row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataImportError, Problem
from training.dataset import (
    ALL_COLUMNS,
    COLUMN_DTYPES,
    PROBLEM_LIMIT,
    read_dataset,
    validate_dataset,
    write_dataset,
)

HEADER = (
    "transaction_id,account_id,amount,currency,timestamp,merchant_id,merchant_category,"
    "country,channel"
)
GOOD = ["t1", "a1", "12.5", "EUR", "2024-05-01T10:00:00Z", "m1", "0742", "DE", "pos"]


def sample_frame() -> pd.DataFrame:
    """Three valid rows using every column, out of timestamp order."""
    times = ["2024-01-02T00:00:00Z", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00Z"]
    return pd.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t3"],
            "account_id": ["a1", "a1", "a2"],
            "amount": [1.5, 20.0, 3.1234],
            "currency": ["EUR", "USD", "JPY"],
            "timestamp": pd.to_datetime(times, utc=True, format="ISO8601").as_unit("us"),
            "merchant_id": ["m1", "m2", "m3"],
            "merchant_category": ["0742", "5411", "5999"],
            "country": ["DE", "US", "JP"],
            "channel": ["pos", "ecommerce", "mobile"],
            "device_id": [None, "d1", "d2"],
            "ip_address": [None, "203.0.113.7", "2001:db8::1"],
            "attributes": [None, '{"entry_mode": "card_not_present", "three_ds": true}', "{}"],
            "label": pd.Series([0, 1, 0], dtype="int8"),
            "scenario": ["legit", "card_testing", "legit"],
        }
    )


def csv_file(tmp_path: Path, *rows: list[str], header: str = HEADER) -> Path:
    """A CSV dataset file with ``header`` and ``rows``."""
    path = tmp_path / "data.csv"
    path.write_text("\n".join([header, *(",".join(row) for row in rows)]) + "\n", encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    """The problems :func:`read_dataset` raises for ``path``."""
    with pytest.raises(DataImportError) as caught:
        read_dataset(path)
    return caught.value.problems


def with_cell(column: str, value: str) -> list[str]:
    """The good row with one cell replaced."""
    row = list(GOOD)
    row[HEADER.split(",").index(column)] = value
    return row


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_then_read_round_trips_exactly(tmp_path: Path, suffix: str) -> None:
    """A written dataset reads back identical (values, dtypes, leading zeros), sorted by time."""
    frame = sample_frame()
    path = tmp_path / f"data{suffix}"
    write_dataset(frame, path)
    back = read_dataset(path)
    expected = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(back, expected)
    assert back["merchant_category"].tolist() == ["5999", "5411", "0742"]
    assert {c: str(back[c].dtype) for c in back.columns} == {
        c: COLUMN_DTYPES[c] for c in back.columns
    }


def test_csv_stores_mcc_as_text_and_times_in_utc(tmp_path: Path) -> None:
    """The CSV keeps ``0742`` as written and writes timestamps as ISO 8601 with ``Z``."""
    path = tmp_path / "data.csv"
    write_dataset(sample_frame(), path)
    text = path.read_text(encoding="utf-8")
    assert ",0742," in text
    assert "2024-01-01T00:00:00.500000Z" in text


def test_reading_adds_absent_optional_columns_as_missing(tmp_path: Path) -> None:
    """A file without device_id/ip_address/attributes reads with those columns all missing."""
    frame = read_dataset(csv_file(tmp_path, GOOD))
    assert list(frame.columns) == list(ALL_COLUMNS[:12])
    assert frame[["device_id", "ip_address", "attributes"]].isna().all().all()
    assert frame.loc[0, "merchant_category"] == "0742"


def test_rows_come_back_in_stable_timestamp_order(tmp_path: Path) -> None:
    """Rows are sorted by timestamp; rows with equal timestamps keep their file order."""
    late = with_cell("timestamp", "2024-05-02T00:00:00+02:00")
    rows = [with_cell("transaction_id", "b"), with_cell("transaction_id", "a"), late]
    frame = read_dataset(csv_file(tmp_path, *rows))
    assert frame["transaction_id"].tolist() == ["b", "a", "t1"]
    assert frame.loc[2, "timestamp"] == pd.Timestamp("2024-05-01T22:00:00Z")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("amount", "-5", "must be 0 or more"),
        ("amount", "abc", "is not a number"),
        ("amount", "1.23456", "at most 4 decimal places"),
        ("amount", "2000000000", "must be at most 1000000000"),
        ("amount", "inf", "is not a number"),
        ("currency", "XYZ", "ISO 4217"),
        ("currency", "eur", "ISO 4217"),
        ("country", "XX", "ISO 3166-1 alpha-2"),
        ("timestamp", "2024-05-01T10:00:00", "has no UTC offset"),
        ("timestamp", "2024-05-01", "has no UTC offset"),
        ("timestamp", "yesterday", "is not an ISO 8601 timestamp"),
        ("timestamp", "2024-05-01T10:00:00.1234567Z", "more than microsecond precision"),
        ("merchant_category", "742", "4-digit merchant category code"),
        ("channel", "shop", "must be one of atm, ecommerce"),
        ("account_id", "", "is required but missing"),
        ("merchant_id", "a\u00a0b", "must not contain whitespace"),
    ],
)
def test_bad_cells_are_reported_with_row_column_and_value(
    tmp_path: Path, column: str, value: str, expected: str
) -> None:
    """A bad cell fails the read with ``row N, column C`` and the value quoted."""
    bad = with_cell(column, value)
    bad[0] = "t2"  # its own id, so that only the cell under test is wrong
    problems = problems_of(csv_file(tmp_path, GOOD, bad))
    assert [p.location for p in problems] == [f"row 2, column {column}"]
    assert expected in problems[0].message
    assert (repr(value) if value else "nothing") in problems[0].message


def test_duplicate_transaction_ids_name_the_first_row(tmp_path: Path) -> None:
    """A repeated transaction_id is an error on the later row, pointing at the earlier one."""
    other = with_cell("transaction_id", "t2")
    problems = problems_of(csv_file(tmp_path, GOOD, other, GOOD))
    assert problems == [
        Problem("row 3, column transaction_id", "duplicates the transaction_id of row 1 (got 't1')")
    ]


def test_missing_and_unknown_columns_are_reported(tmp_path: Path) -> None:
    """A missing required column and an unexpected one are both named."""
    header = HEADER.replace("currency", "currencyy")
    problems = problems_of(csv_file(tmp_path, GOOD, header=header))
    locations = [p.location for p in problems]
    assert "column currencyy" in locations
    assert "column currency" in locations
    assert any("is required but missing" in p.message for p in problems)


def test_repeated_header_names_are_reported(tmp_path: Path) -> None:
    """A column named twice in the header is an error, not silently renamed."""
    problems = problems_of(csv_file(tmp_path, [*GOOD, "x"], header=f"{HEADER},country"))
    assert problems[0] == Problem("column country", "appears more than once")


@pytest.mark.parametrize(("extra", "fields"), [([], 8), (["x"], 10)])
def test_rows_wider_or_narrower_than_the_header_are_errors(
    tmp_path: Path, extra: list[str], fields: int
) -> None:
    """A row with a missing or an extra field is named, never padded or shifted."""
    row = [*GOOD[:-1], *extra] if not extra else [*GOOD, *extra]
    path = csv_file(tmp_path, with_cell("transaction_id", "t0"), row)
    with pytest.raises(DataImportError, match="does not match the header") as caught:
        read_dataset(path)
    assert caught.value.problems == [Problem("row 2", f"has {fields} fields; the header has 9")]


def test_problem_list_is_capped_but_the_total_is_stated(tmp_path: Path) -> None:
    """Hundreds of bad rows list the first few and state how many there are in all."""
    rows = [with_cell("transaction_id", f"t{i}") for i in range(200)]
    rows = [[*row[:2], "-1", *row[3:]] for row in rows]
    with pytest.raises(DataImportError) as caught:
        read_dataset(csv_file(tmp_path, *rows))
    assert "200 problems" in str(caught.value)
    assert len(caught.value.problems) == PROBLEM_LIMIT + 1
    assert caught.value.problems[-1].message == f"... and {200 - PROBLEM_LIMIT} more problems"
    assert caught.value.problems[0].location == "row 1, column amount"


def test_validate_accepts_a_valid_frame() -> None:
    """A canonical frame has no problems."""
    assert validate_dataset(sample_frame()) == []


def test_validate_reports_wrong_dtypes() -> None:
    """A column with another dtype than the canonical one is named with both dtypes."""
    frame = sample_frame().assign(amount=lambda f: f["amount"].astype(str))
    assert Problem("column amount", "has dtype str, expected float64") in validate_dataset(frame)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("ip_address", "999.1.1.1", "not an IPv4 or IPv6 address"),
        ("ip_address", "01.2.3.4", "not an IPv4 or IPv6 address"),
        ("attributes", "[1]", "must be a JSON object"),
        ("attributes", '{"a b": 1}', "must be an identifier"),
        ("attributes", '{"x": NaN}', "must be a finite number"),
        ("attributes", "{", "is not valid JSON"),
        ("device_id", "x" * 129, "at most 128 characters"),
        ("scenario", "card_testing", "must be 'legit' when the label is 0"),
    ],
)
def test_validate_checks_optional_columns(column: str, value: str, expected: str) -> None:
    """Optional columns follow the Transaction rules too."""
    frame = sample_frame()
    frame.loc[0, column] = value
    problems = validate_dataset(frame)
    assert [p.location for p in problems] == [f"row 1, column {column}"]
    assert expected in problems[0].message


def test_fraud_rows_cannot_be_called_legit() -> None:
    """A row labelled 1 whose scenario is ``legit`` is a contradiction."""
    frame = sample_frame()
    frame.loc[1, "scenario"] = "legit"
    assert [p.location for p in validate_dataset(frame)] == ["row 2, column scenario"]


def test_labels_must_be_zero_or_one(tmp_path: Path) -> None:
    """A label other than 0 or 1 is rejected with its row."""
    header = f"{HEADER},label"
    problems = problems_of(
        csv_file(tmp_path, [*GOOD, "1"], [*with_cell("transaction_id", "x"), "2"], header=header)
    )
    assert problems == [Problem("row 2, column label", "must be 0 or 1 (got '2')")]


def test_parquet_with_naive_timestamps_is_rejected(tmp_path: Path) -> None:
    """A Parquet timestamp column without a timezone is a column-level error."""
    frame = sample_frame()
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    path = tmp_path / "naive.parquet"
    frame.to_parquet(path, index=False)
    problems = problems_of(path)
    assert problems[0].location == "column timestamp"
    assert "no timezone" in problems[0].message


def test_parquet_in_another_timezone_reads_as_utc(tmp_path: Path) -> None:
    """Aware Parquet timestamps in any zone come back as the same instants in UTC."""
    frame = sample_frame()
    frame["timestamp"] = frame["timestamp"].dt.tz_convert("Europe/Berlin").dt.as_unit("ns")
    path = tmp_path / "berlin.parquet"
    frame.to_parquet(path, index=False)
    back = read_dataset(path)
    assert str(back["timestamp"].dtype) == "datetime64[us, UTC]"
    assert back["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T00:00:00Z")


def test_parquet_with_numeric_mcc_is_rejected(tmp_path: Path) -> None:
    """An MCC stored as a number (leading zeros lost) is a type error, not silently padded."""
    frame = sample_frame().assign(merchant_category=[742, 5411, 5999])
    path = tmp_path / "numbers.parquet"
    frame.to_parquet(path, index=False)
    assert problems_of(path)[0].location == "column merchant_category"


def test_writing_an_invalid_frame_writes_nothing(tmp_path: Path) -> None:
    """write_dataset refuses a frame with problems and leaves no file behind."""
    frame = sample_frame()
    frame.loc[0, "amount"] = -1.0
    path = tmp_path / "out.csv"
    with pytest.raises(DataImportError, match="refusing to write"):
        write_dataset(frame, path)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_suffix_and_missing_file_are_errors(tmp_path: Path) -> None:
    """Only .csv and .parquet are dataset files; a missing file says so."""
    with pytest.raises(DataImportError, match="unsupported file type"):
        read_dataset(tmp_path / "data.json")
    with pytest.raises(DataImportError, match="no such file"):
        read_dataset(tmp_path / "absent.csv")


def test_amount_round_trip_is_exact_for_many_values(tmp_path: Path) -> None:
    """Thousands of 2- and 4-decimal amounts survive CSV text bit for bit."""
    rng = np.random.default_rng(5)
    amounts = np.concatenate(
        [np.round(rng.lognormal(3, 2, 2000), 2), np.round(rng.random(2000) * 1e6, 4)]
    )
    amounts = np.maximum(amounts, 0.01)
    frame = sample_frame().iloc[np.zeros(len(amounts), dtype=int)].reset_index(drop=True)
    frame["transaction_id"] = [f"t{i}" for i in range(len(amounts))]
    frame["amount"] = amounts
    path = tmp_path / "amounts.csv"
    write_dataset(frame, path)
    assert np.array_equal(read_dataset(path)["amount"].to_numpy(), amounts)
