"""Amount features are in the FX table's base currency, computed the same way offline, in the
reference loops and for the online store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

from config.fx import FxTable
from core.errors import InvalidInputError
from core.models import Channel, Transaction
from features.currency import base_units_column, transaction_units
from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.offline import compute_features
from features.reference import reference_features
from features.spec import default_feature_set

FX = FxTable(
    "USD",
    {
        "EUR": Decimal("1.086956522"),
        "JPY": Decimal("0.006666666667"),
        "IDR": Decimal("0.0000625"),
        "KWD": Decimal("3.2573289902280130293"),
    },
)
SPECS = tuple(
    FeatureSpec(entity="account_id", stat=stat, window="1h")
    for stat in (Stat.SUM, Stat.MEAN, Stat.MAX, Stat.ZSCORE)
)
FrameBuilder = Callable[[Sequence[dict[str, Any]]], pd.DataFrame]
MIXED = FeatureSet(windowed=SPECS, per_transaction=(TransactionFeatureKind.AMOUNT,), fx=FX)


def _rows() -> list[dict[str, object]]:
    amounts = [
        ("JPY", 99144.0),
        ("EUR", 12.35),
        ("USD", 0.0001),
        ("IDR", 1.0),
        ("KWD", 999999999.9999),
        ("EUR", 0.0),
        ("JPY", 1.0),
        ("USD", 10000.0),
    ]
    return [
        {"ms": 60_000 * i, "currency": currency, "amount": amount}
        for i, (currency, amount) in enumerate(amounts)
    ]


def test_offline_amounts_are_in_the_base_currency(make_frame: FrameBuilder) -> None:
    """The amount feature is the converted amount, rounded half up to 1e-4 base units."""
    features = compute_features(make_frame(_rows()), MIXED)
    assert features["amount"].tolist()[:4] == [660.96, 13.4239, 0.0001, 0.0001]
    assert features["amount"].iloc[7] == 10000.0


def test_offline_matches_the_reference_with_mixed_currencies(make_frame: FrameBuilder) -> None:
    """Offline and reference values are bit-identical across currencies (int64 and exact
    Python-integer paths both)."""
    frame = make_frame(_rows())
    offline = compute_features(frame, MIXED)
    reference = reference_features(frame, MIXED)
    pd.testing.assert_frame_equal(offline, reference, check_exact=True)


def test_the_column_conversion_equals_the_scalar_one() -> None:
    """Row by row, the vectorized conversion gives FxTable.convert_units."""
    rng = np.random.default_rng(3)
    units = np.concatenate([rng.integers(0, 10**13, 200), [0, 1, 5, 10**13]]).astype(np.int64)
    currencies = pd.Series(rng.choice(["USD", "EUR", "JPY", "IDR", "KWD"], len(units)))
    converted = base_units_column(units, currencies, FX)
    expected = [FX.convert_units(int(u), str(c)) for u, c in zip(units, currencies, strict=True)]
    assert converted.tolist() == expected


def test_online_units_equal_offline_units() -> None:
    """The online store's units for a transaction are the offline column's."""
    base = Transaction(
        transaction_id="t",
        account_id="a",
        amount=Decimal("99144"),
        currency="JPY",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        merchant_id="m",
        merchant_category="5411",
        country="JP",
        channel=Channel.POS,
    )
    for currency, amount in (("JPY", "99144"), ("EUR", "12.35"), ("KWD", "999999999.9999")):
        txn = msgspec.structs.replace(base, currency=currency, amount=Decimal(amount))
        units = np.array([int(Decimal(amount).scaleb(4))], dtype=np.int64)
        column = base_units_column(units, pd.Series([currency]), FX)
        assert transaction_units(txn, FX) == int(column[0])
    assert transaction_units(base, None) == 99144 * 10_000


def test_a_currency_without_a_rate_is_refused_offline(make_frame: FrameBuilder) -> None:
    """Rows in a currency the table cannot convert name the column, rows and currency."""
    frame = make_frame([{"ms": 0}, {"ms": 1, "currency": "CHF"}])
    with pytest.raises(InvalidInputError) as caught:
        compute_features(frame, MIXED)
    assert "column currency" in str(caught.value)
    assert "rows 1: no exchange rate for CHF" in str(caught.value)


def test_without_a_table_amounts_stay_as_they_are(make_frame: FrameBuilder) -> None:
    """A feature set built without an FX table does not convert (nor need a currency column)."""
    plain = msgspec.structs.replace(MIXED, fx=None)
    frame = make_frame(_rows()).drop(columns=["currency"])
    assert compute_features(frame, plain)["amount"].iloc[0] == 99144.0


def test_the_fx_table_is_part_of_the_feature_set_version() -> None:
    """Another table (or none) gives another version; the shipped set carries config/fx.yaml."""
    other = FxTable("USD", {"EUR": Decimal("1.1")})
    versions = {
        MIXED.version,
        msgspec.structs.replace(MIXED, fx=other).version,
        msgspec.structs.replace(MIXED, fx=None).version,
    }
    assert len(versions) == 3
    shipped = default_feature_set()
    assert shipped.fx is not None
    assert shipped.fx_version == shipped.fx.version
