"""The FX table: read with file:line:col errors, versioned by content, converting exactly."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.fx import FxTable, load_fx_table, parse_fx_table
from config.settings import CONFIG_DIR, load_settings
from core.errors import ConfigError, InvalidInputError
from features.durations import AMOUNT_UNITS_PER_CURRENCY_UNIT
from training.world import COUNTRIES

GOOD = "base: USD\nrates:\n  USD: 1\n  EUR: 1.086956522\n  JPY: 0.006666666667\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_fx_table(text, "fx.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_a_valid_table_reads_its_rates_exactly() -> None:
    """Rates are the decimals as written; the base is listed with rate 1."""
    table = parse_fx_table(GOOD, "fx.yaml")
    assert table.base == "USD"
    assert table.rates == {
        "EUR": Decimal("1.086956522"),
        "JPY": Decimal("0.006666666667"),
        "USD": Decimal(1),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rates:\n  EUR: 1.1\n", "fx.yaml:1:1: missing key `base`"),
        ("base: XXY\nrates:\n  EUR: 1.1\n", "fx.yaml:1:7: 'XXY' is not an ISO 4217"),
        ("base: USD\nrates:\n  EUR: 1.1\n  ZZZ: 2\n", "fx.yaml:4:3: 'ZZZ' is not an ISO 4217"),
        ("base: USD\nrates:\n  EUR: 0\n", "fx.yaml:3:8: the rate must be finite and greater"),
        ("base: USD\nrates:\n  EUR: -1.5\n", "fx.yaml:3:8: the rate must be finite and greater"),
        ("base: USD\nrates:\n  EUR: .inf\n", "fx.yaml:3:8: the rate must be finite and greater"),
        ("base: USD\nrates:\n  EUR: .nan\n", "fx.yaml:3:8: the rate must be finite and greater"),
        ("base: USD\nrates:\n  EUR: lots\n", "fx.yaml:3:8: the rate must be a number"),
        ("base: USD\nrates:\n  EUR: true\n", "fx.yaml:3:8: the rate must be a number"),
        ("base: USD\nrates:\n  USD: 1.01\n", "fx.yaml:3:8: the base currency USD must have rate 1"),
        ("base: USD\nrates:\n  EUR: 1\nas_of: today\n", "fx.yaml:4:1: unknown key 'as_of'"),
        ("base: USD\n", "fx.yaml:1:1: missing key `rates`"),
        ("base: USD\nrates: []\n", "fx.yaml:2:8: must be a non-empty mapping"),
        ("base: USD\nrates:\n  EUR: 1\n  EUR: 2\n", "fx.yaml:4:3:"),
        ("- USD\n", "fx.yaml:1:1: must be a mapping"),
    ],
)
def test_each_bad_input_is_an_error_at_its_position(text: str, expected: str) -> None:
    """Every mistake names file:line:col of the offending key or value."""
    problems = _problems(text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    """Two bad rates give two problems."""
    assert len(_problems("base: USD\nrates:\n  EUR: 0\n  JPY: -1\n")) == 2


def test_the_version_is_a_content_hash() -> None:
    """Formatting, order and trailing zeros keep the version; a changed rate changes it."""
    same = "# rates\nrates: {JPY: '0.006666666667', EUR: 1.0869565220}\nbase: USD\n"
    assert parse_fx_table(same, "b").version == parse_fx_table(GOOD, "a").version
    changed = GOOD.replace("1.086956522", "1.09")
    assert parse_fx_table(changed, "a").version != parse_fx_table(GOOD, "a").version


def test_the_shipped_table_covers_the_generators_currencies_at_its_rates() -> None:
    """config/fx.yaml (the default fx_file) converts every generated currency back to about the
    US dollars it was generated from."""
    table = load_fx_table(load_settings(environ={}).fx_file)
    assert load_settings(environ={}).fx_file == CONFIG_DIR / "fx.yaml"
    assert table.base == "USD"
    for country in COUNTRIES:
        rate = table.rates[country.currency]
        assert float(rate) * country.per_usd == pytest.approx(1.0, rel=1e-9)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """An unreadable file names its path."""
    with pytest.raises(ConfigError, match="cannot read FX table"):
        load_fx_table(tmp_path / "nope.yaml")


def test_the_example_of_the_issue() -> None:
    """99,144 JPY is 660.96 USD: far below a 10,000 threshold."""
    table = parse_fx_table(GOOD, "fx.yaml")
    assert table.base_amount(Decimal(99144), "JPY") == 660.96
    assert table.base_amount(Decimal(1), "CHF") is None


def test_rounding_is_half_up_on_the_unit_grid() -> None:
    """0.5 of a 1e-4 base unit rounds up, below it down."""
    table = FxTable("USD", {"EUR": Decimal("0.5")})
    assert table.convert_units(1, "EUR") == 1
    assert table.convert_units(3, "EUR") == 2
    assert table.convert_units(2, "EUR") == 1
    assert table.convert_units(0, "EUR") == 0
    assert table.base_units(Decimal("0.0001"), "EUR") == 1
    with pytest.raises(InvalidInputError) as caught:
        table.convert_units(1, "CHF")
    assert "CHF" in str(caught.value)


@given(
    amount=st.decimals(min_value=0, max_value=10**9, places=4),
    rate=st.decimals(min_value=Decimal("1e-9"), max_value=Decimal(40000), places=12),
)
def test_conversion_equals_decimal_rounded_half_up(amount: Decimal, rate: Decimal) -> None:
    """Integer conversion equals Decimal amount * rate quantized to 1e-4 half up."""
    table = FxTable("USD", {"EUR": rate})
    with localcontext() as context:
        context.prec = 60
        expected = (amount * rate).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    assert table.base_units(amount, "EUR") == int(expected.scaleb(4))
    assert AMOUNT_UNITS_PER_CURRENCY_UNIT == 10**4
