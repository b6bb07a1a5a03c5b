"""`vigil import`: prints what it read, wrote and rejected; bad input exits 2 with the reasons."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app, main
from core.errors import DataImportError

MAPPING = """\
fields:
  transaction_id: {column: id}
  account_id: {column: card}
  amount: {column: amt}
  currency: {constant: EUR}
  timestamp: {column: ts}
  merchant_id: {column: shop}
  merchant_category: {constant: "0742"}
  country: {constant: AT}
  channel: {constant: pos}
label: {column: fraud}
"""
SOURCE = (
    "id,card,amt,ts,shop,fraud\n"
    "t1,c1,9.99,2024-05-01T10:00:00Z,s1,0\n"
    "t2,c2,-1,2024-05-01T11:00:00Z,s1,1\n"
)


def files(tmp_path: Path) -> tuple[Path, Path]:
    """A source CSV with one bad row, and its mapping."""
    source = tmp_path / "source.csv"
    source.write_text(SOURCE, encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return source, mapping


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the real entry point (which maps Vigil errors to exit 2); return code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["vigil", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_bad_rows_exit_2_naming_row_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --skip-invalid, one bad row fails the import with its row, column and value."""
    source, mapping = files(tmp_path)
    out = tmp_path / "out.csv"
    code, _, err = run_main(
        ["import", str(source), "--mapping", str(mapping), "--out", str(out)], monkeypatch, capsys
    )
    assert code == 2
    assert "row 2, column amt (amount): must be 0 or more (got '-1')" in err
    assert not out.exists()


def test_the_error_reaches_cli_runner_as_a_vigil_error(tmp_path: Path) -> None:
    """Through CliRunner (no entry-point wrapper) the same failure surfaces as DataImportError."""
    source, mapping = files(tmp_path)
    result = CliRunner().invoke(
        app, ["import", str(source), "-m", str(mapping), "-o", str(tmp_path / "o.csv")]
    )
    assert isinstance(result.exception, DataImportError)
    assert result.exception.problems[0].location == "row 2, column amt (amount)"


def test_skip_invalid_prints_the_summary(tmp_path: Path) -> None:
    """With --skip-invalid the command succeeds and says what it read, wrote and rejected."""
    source, mapping = files(tmp_path)
    out = tmp_path / "out.parquet"
    args = ["import", str(source), "--mapping", str(mapping), "--out", str(out), "--skip-invalid"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "read 2 rows" in result.output
    assert "wrote 1 rows" in result.output
    assert f"rejected 1 rows (reasons in {tmp_path / 'out.rejects.csv'})" in result.output
    assert out.exists()


def test_mapping_errors_exit_2_with_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mapping with an unknown key fails with file:line:col of that key."""
    source, mapping = files(tmp_path)
    mapping.write_text(MAPPING.replace("  amount:", "  amout:"), encoding="utf-8")
    args = ["import", str(source), "--mapping", str(mapping), "--out", str(tmp_path / "o.csv")]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert code == 2
    assert f"{mapping}:4:3: unknown key 'amout' in `fields`" in err


def test_a_missing_source_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A source file that does not exist is named in the error."""
    _, mapping = files(tmp_path)
    args = ["import", str(tmp_path / "nope.csv"), "-m", str(mapping), "-o", str(tmp_path / "o.csv")]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert code == 2
    assert "nope.csv: no such file" in err
