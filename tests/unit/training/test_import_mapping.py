"""Import mapping files: a strict schema whose every error points at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from training.import_mapping import (
    ColumnSource,
    Constant,
    RowNumber,
    TimestampSource,
    load_mapping,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "import-mapping.yaml"

VALID = """\
fields:
  transaction_id: {generate: row_number, prefix: "bank-"}
  account_id: {column: card}
  amount: {column: amt}
  currency: {constant: EUR}
  timestamp: {column: ts, format: unix_ms}
  merchant_id: {column: shop}
  merchant_category: {column: mcc}
  country: {constant: DE}
  channel: {column: kind, values: {web: ecommerce}, keep_unmapped: true}
label: {column: fraud, values: {"yes": 1, "no": 0}}
scenario: {column: kind_of_fraud}
"""


def load_text(tmp_path: Path, text: str) -> Path:
    """Write ``text`` as a mapping file and return its path."""
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    """(location, message) of each problem loading ``text`` raises."""
    path = load_text(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    return [(p.location.removeprefix(f"{path}:"), p.message) for p in caught.value.problems]


def test_a_valid_mapping_loads_into_sources(tmp_path: Path) -> None:
    """Each field becomes the source it describes."""
    mapping = load_mapping(load_text(tmp_path, VALID))
    assert mapping.fields["transaction_id"] == RowNumber("bank-")
    assert mapping.fields["currency"] == Constant("EUR")
    timestamp = mapping.fields["timestamp"]
    assert isinstance(timestamp, TimestampSource)
    assert (timestamp.column, timestamp.format, timestamp.timezone) == ("ts", "unix_ms", None)
    channel = mapping.fields["channel"]
    assert isinstance(channel, ColumnSource)
    assert channel.values == {"web": "ecommerce"}
    assert channel.keep_unmapped
    assert mapping.label is not None
    assert mapping.label.values == {"yes": 1, "no": 0}
    assert mapping.columns()["card"].endswith(":3:24")


def test_the_documented_example_loads() -> None:
    """docs/examples/import-mapping.yaml is a valid mapping."""
    mapping = load_mapping(EXAMPLE)
    assert set(mapping.fields) >= {"transaction_id", "amount", "timestamp", "merchant_category"}
    assert set(mapping.attributes) == {"customer_city", "customer_state", "customer_zip"}


@pytest.mark.parametrize(
    ("edit", "location", "message"),
    [
        (("fields:", "field:"), "1:1", "unknown key 'field' in the mapping"),
        (("{column: amt}", "{colum: amt}"), "4:11", "needs exactly one of"),
        (("{column: card}", "{column: card, colour: red}"), "3:30", "unknown key 'colour'"),
        (("{constant: EUR}", "{constant: EURO}"), "5:24", "not an ISO 4217 currency code"),
        (("{constant: DE}", "{constant: 276}"), "9:23", "(write it in quotes)"),
        (("{column: mcc}", "{column: mcc, values: {vet: 0742}}"), "8:50", "text in quotes"),
        (("{column: mcc}", "{column: mcc, values: {vet: '742'}}"), "8:50", "4-digit merchant"),
        (("format: unix_ms", "format: '%d.%m.%Y %H:%M'"), "6:35", "`timezone` is required"),
        (("format: unix_ms", "format: iso8601, timezone: Mars/Base"), "6:54", "unknown timezone"),
        (("format: unix_ms", "format: unix_ms, timezone: UTC"), "6:54", "UTC by definition"),
        (("format: unix_ms", "format: epoch"), "6:35", "must be iso8601, unix_s"),
        (("{column: amt}", "{constant: '5'}"), "4:22", "cannot be a constant"),
        (("{column: card}", "{generate: row_number}"), "3:26", "only `transaction_id`"),
        (('"yes": 1', '"yes": 2'), "11:40", "must be 0 or 1"),
        (('"yes": 1', "yes: 1, true: 1"), "11:41", "must be written in quotes"),
        (("web: ecommerce", "web: shop"), "10:41", "must be one of atm, ecommerce"),
        (("keep_unmapped: true", "keep_unmapped: yes"), "10:68", "must be true or false"),
    ],
)
def test_schema_errors_point_at_line_and_column(
    tmp_path: Path, edit: tuple[str, str], location: str, message: str
) -> None:
    """A wrong key or value is reported at its own line and column."""
    old, new = edit
    assert old in VALID
    found = problems(tmp_path, VALID.replace(old, new, 1))
    assert any(where == location and message in text for where, text in found), found


def test_missing_required_fields_are_listed(tmp_path: Path) -> None:
    """Every required Transaction field that is not mapped is named."""
    found = problems(tmp_path, "fields:\n  amount: {column: amt}\n")
    missing = {text for _, text in found}
    assert "`fields.currency` is required" in missing
    assert "`fields.transaction_id` is required" in missing


def test_duplicate_keys_are_errors_at_the_second_key(tmp_path: Path) -> None:
    """A key given twice is reported where it repeats."""
    text = VALID.replace(
        "  country: {constant: DE}\n", "  country: {constant: DE}\n  country: {constant: FR}\n"
    )
    found = problems(tmp_path, text)
    assert found[0][0] == "10:3"
    assert "duplicate key" in found[0][1]


def test_yaml_syntax_errors_have_positions(tmp_path: Path) -> None:
    """Broken YAML is reported with the line and column where parsing failed."""
    found = problems(tmp_path, "fields:\n  amount: {column: amt\n")
    assert found[0][0].startswith("3:")


def test_a_mapping_must_be_a_mapping(tmp_path: Path) -> None:
    """A YAML list or an empty file is not a mapping."""
    assert problems(tmp_path, "- a\n- b\n")[0][0] == "1:1"
    assert "`fields`" in problems(tmp_path, "")[0][1]


def test_attribute_keys_must_be_identifiers(tmp_path: Path) -> None:
    """Attribute keys follow the Transaction attribute key rules."""
    text = VALID.replace(
        "  country: {constant: DE}\n", "  country: {constant: DE}\n  attributes: {bad key: city}\n"
    )
    found = problems(tmp_path, text)
    assert found == [
        (
            "10:16",
            "attribute key 'bad key' must be an identifier (letters, digits and _, not starting"
            " with a digit) of at most 64 characters",
        )
    ]
