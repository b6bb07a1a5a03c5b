"""`vigil score` reads transaction files strictly before sending anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.engine_commands import read_payloads
from core.errors import DataImportError

GOOD = {
    "transaction_id": "t-1",
    "account_id": "a-1",
    "amount": "12.50",
    "currency": "EUR",
    "timestamp": "2026-01-01T10:00:00+00:00",
    "merchant_id": "m-1",
    "merchant_category": "5411",
    "country": "FR",
    "channel": "pos",
}


def test_jsonl_lines_become_payloads(tmp_path: Path) -> None:
    """Each non-blank line of a .jsonl file is one payload, sent as written."""
    path = tmp_path / "txns.jsonl"
    lines = [json.dumps(GOOD), "", json.dumps({**GOOD, "transaction_id": "t-2"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [p["transaction_id"] for p in read_payloads(path)] == ["t-1", "t-2"]


def test_bad_jsonl_lines_are_all_reported_with_line_numbers(tmp_path: Path) -> None:
    """Every bad line is reported as file:line with the field at fault; nothing is returned."""
    path = tmp_path / "txns.jsonl"
    bad_amount = json.dumps({**GOOD, "amount": "-3"})
    unknown_field = json.dumps({**GOOD, "colour": "red"})
    path.write_text(f"{json.dumps(GOOD)}\n{bad_amount}\nnot json\n{unknown_field}\n", "utf-8")
    with pytest.raises(DataImportError) as caught:
        read_payloads(path)
    text = str(caught.value)
    assert f"{path}:2" in text
    assert "amount" in text
    assert f"{path}:3" in text
    assert f"{path}:4" in text
    assert "colour" in text
    assert f"{path}:1:" not in text


def test_empty_jsonl_is_an_error(tmp_path: Path) -> None:
    """A file without transactions is rejected rather than scoring nothing silently."""
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(DataImportError, match="no transactions"):
        read_payloads(path)


def test_csv_rows_become_wire_payloads(tmp_path: Path) -> None:
    """A dataset CSV row becomes a wire payload; empty optional columns are omitted."""
    path = tmp_path / "txns.csv"
    header = ",".join([*GOOD, "device_id", "ip_address", "attributes"])
    row = ",".join([*GOOD.values(), "dev-1", "", '"{""entry_mode"": ""chip""}"'])
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    [payload] = read_payloads(path)
    assert payload["amount"] == "12.5"
    assert payload["device_id"] == "dev-1"
    assert "ip_address" not in payload
    assert payload["attributes"] == {"entry_mode": "chip"}
    assert payload["timestamp"].startswith("2026-01-01T10:00:00")
