"""Read a CSV file strictly as text: every cell a string, every row as wide as the header.

pandas' default parser silently pads short rows and, when the first row is one field too long,
turns the first column into an index; Arrow's parser (``engine="pyarrow"``) rejects both and is
faster. When it rejects a row, the file is scanned once more to say which row (data rows count from
1, after the header; blank lines are skipped, as the parser does).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Final

import pandas as pd

from core.errors import DataImportError, Problem

_WIDTH_ERROR: Final = re.compile(r"Expected \d+ columns, got \d+")


def read_csv_text(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """Every cell of ``path`` as text (empty cells are empty strings), columns named as written.

    Raises :class:`core.errors.DataImportError` when the file is missing, empty, not decodable,
    or has a row with more or fewer fields than the header.
    """
    if not path.is_file():
        raise DataImportError(f"{path}: no such file")
    try:
        header = _header(path, delimiter, encoding)
        frame = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            dtype="str",
            keep_default_na=False,
            engine="pyarrow",
        )
    except (ValueError, OSError, csv.Error) as exc:
        if _WIDTH_ERROR.search(str(exc)):
            raise _ragged_row(path, delimiter, encoding, len(header)) from exc
        raise DataImportError(f"{path}: cannot be read: {exc}") from exc
    frame.columns = pd.Index(header)
    return frame


def _header(path: Path, delimiter: str, encoding: str) -> list[str]:
    """The header row as written (the parser would rename repeated names)."""
    with path.open(newline="", encoding=encoding) as file:
        header = next(csv.reader(file, delimiter=delimiter), None)
    if not header:
        raise DataImportError(f"{path}: is empty; expected a header row naming the columns")
    return header


def _ragged_row(path: Path, delimiter: str, encoding: str, width: int) -> DataImportError:
    """The error for the first data row whose field count differs from the header's."""
    with path.open(newline="", encoding=encoding) as file:
        rows = (row for row in csv.reader(file, delimiter=delimiter) if row)
        next(rows, None)
        for number, row in enumerate(rows, start=1):
            if len(row) != width:
                return DataImportError(
                    f"{path}: a row does not match the header",
                    [Problem(f"row {number}", f"has {len(row)} fields; the header has {width}")],
                )
    return DataImportError(f"{path}: a row does not match the header's {width} fields")
