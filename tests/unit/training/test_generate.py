"""The synthetic data generator: deterministic, valid, labelled and realistic enough to learn."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from training.dataset import read_dataset, validate_dataset, write_dataset
from training.generate import DEFAULT_START, SCENARIO_NAMES, generate_dataset

ACCOUNTS, DAYS = 300, 30


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """A small dataset with enough fraud for every scenario."""
    return generate_dataset(ACCOUNTS, DAYS, seed=11, fraud_rate=0.03)


def test_same_seed_gives_the_same_frame() -> None:
    """Generating twice with one seed gives identical frames."""
    first = generate_dataset(80, 10, seed=3, fraud_rate=0.05)
    second = generate_dataset(80, 10, seed=3, fraud_rate=0.05)
    pd.testing.assert_frame_equal(first, second)


def test_another_seed_gives_another_frame() -> None:
    """A different seed changes the data (and the transaction ids)."""
    first = generate_dataset(80, 10, seed=3)
    second = generate_dataset(80, 10, seed=4)
    assert len(first) != len(second) or not first["amount"].equals(second["amount"])
    assert set(first["transaction_id"]).isdisjoint(second["transaction_id"])


def test_generated_data_is_a_valid_dataset(data: pd.DataFrame) -> None:
    """Every generated row passes the dataset rules (and so the Transaction rules)."""
    assert validate_dataset(data) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_generated_data_round_trips_through_files(
    tmp_path: Path, data: pd.DataFrame, suffix: str
) -> None:
    """Written and read back, generated data is unchanged."""
    path = tmp_path / f"generated{suffix}"
    write_dataset(data, path)
    pd.testing.assert_frame_equal(read_dataset(path), data)


def test_every_scenario_is_present_and_labelled(data: pd.DataFrame) -> None:
    """All five fraud scenarios appear; label 1 exactly on non-legit rows."""
    assert set(data["scenario"]) == set(SCENARIO_NAMES)
    assert ((data["label"] == 1) == (data["scenario"] != "legit")).all()


@pytest.mark.parametrize("rate", [0.0, 0.005, 0.007, 0.03, 0.2])
def test_fraud_rate_is_as_requested(rate: float) -> None:
    """The share of fraud rows matches the requested rate within 0.1 percentage point."""
    frame = generate_dataset(150, 20, seed=8, fraud_rate=rate)
    assert abs(frame["label"].mean() - rate) < 0.001


def test_default_rate_is_under_one_percent() -> None:
    """Without a rate, about 0.7% of rows are fraud."""
    frame = generate_dataset(200, 20, seed=1)
    assert 0.005 <= frame["label"].mean() <= 0.01


def test_rows_are_in_time_order_within_the_period(data: pd.DataFrame) -> None:
    """Timestamps ascend and stay within [start, start + days)."""
    times = data["timestamp"]
    assert times.is_monotonic_increasing
    assert times.min() >= pd.Timestamp(DEFAULT_START)
    assert times.max() < pd.Timestamp(DEFAULT_START + timedelta(days=DAYS))


def test_start_may_be_in_any_timezone() -> None:
    """A start with an offset is honoured as the same instant."""
    start = datetime(2023, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    frame = generate_dataset(30, 2, seed=2, start=start)
    assert frame["timestamp"].min() >= pd.Timestamp("2023-06-01T07:00:00Z")
    assert frame["timestamp"].max() < pd.Timestamp("2023-06-03T07:00:00Z")


def test_transaction_ids_are_unique_and_carry_the_seed(data: pd.DataFrame) -> None:
    """Ids are unique, numbered in time order and prefixed with the seed."""
    assert data["transaction_id"].is_unique
    assert data["transaction_id"].iloc[0] == "txn-11-000000000"


def test_legit_behaviour_has_a_daily_rhythm_and_a_home() -> None:
    """Legitimate payments happen mostly by day (local time) and mostly in the home country."""
    frame = generate_dataset(300, 14, seed=5, fraud_rate=0.0)
    us = frame[frame["currency"] == "USD"]
    local_hour = (us["timestamp"] - pd.Timedelta(hours=5)).dt.hour
    assert (local_hour < 5).mean() < 0.08
    home = frame.groupby("account_id")["country"].agg(
        lambda c: c.value_counts(normalize=True).iloc[0]
    )
    assert home.median() > 0.9


def test_card_testing_is_tiny_amounts_in_quick_bursts(data: pd.DataFrame) -> None:
    """Card testing: small amounts, several per account within minutes, at few merchants."""
    testing = data[data["scenario"] == "card_testing"]
    legit = data[data["scenario"] == "legit"]
    assert testing["amount"].median() < legit["amount"].median()
    gaps = testing.groupby("account_id")["timestamp"].diff().dt.total_seconds().dropna()
    assert gaps.median() < 300
    assert (legit["amount"] < testing["amount"].max()).any()


def test_account_takeover_brings_new_devices_and_big_amounts(data: pd.DataFrame) -> None:
    """Account takeover: devices the account never used before, amounts far above its usual."""
    takeover = data[data["scenario"] == "account_takeover"]
    legit = data[data["scenario"] == "legit"]
    used = legit.dropna(subset=["device_id"])
    known = set(zip(used["account_id"], used["device_id"], strict=True))
    pairs = set(zip(takeover["account_id"], takeover["device_id"], strict=True))
    assert not pairs & known
    typical = legit.groupby("account_id")["amount"].median()
    ratio = takeover["amount"] / takeover["account_id"].map(typical)
    assert ratio.median() > 3


def test_compromised_merchants_hit_many_accounts(data: pd.DataFrame) -> None:
    """A compromised merchant's fraud spans many accounts and more than one day."""
    fraud = data[data["scenario"] == "compromised_merchant"]
    per_merchant = fraud.groupby("merchant_id").agg(
        accounts=("account_id", "nunique"), days=("timestamp", lambda t: t.dt.date.nunique())
    )
    assert per_merchant["accounts"].max() >= 5
    assert per_merchant["days"].max() >= 2


def test_stolen_card_spree_is_fast_card_present_spending(data: pd.DataFrame) -> None:
    """A stolen card is used in shops and ATMs, many times within hours."""
    spree = data[data["scenario"] == "stolen_card_spree"]
    assert set(spree["channel"]) <= {"pos", "atm"}
    span = spree.groupby("account_id")["timestamp"].agg(lambda t: t.max() - t.min())
    assert span.dt.total_seconds().median() < 4 * 3600


def test_mule_devices_serve_many_accounts_unlike_household_sharing(data: pd.DataFrame) -> None:
    """A mule device is used by many accounts; legit devices by one, or two in a household."""
    mule = data[data["scenario"] == "mule_device"]
    legit = data[data["scenario"] == "legit"]
    assert mule.groupby("device_id")["account_id"].nunique().max() >= 4
    sharing = legit.groupby("device_id")["account_id"].nunique()
    assert sharing.max() <= 3
    assert (sharing == 2).any()


def test_invalid_arguments_are_rejected_together() -> None:
    """Bad arguments raise InvalidInputError naming each one."""
    with pytest.raises(InvalidInputError) as caught:
        generate_dataset(0, 0, seed=-1, fraud_rate=0.9, start=datetime(2024, 1, 1))  # noqa: DTZ001 - a naive start is the error under test
    assert [p.location for p in caught.value.problems] == [
        "accounts",
        "days",
        "seed",
        "fraud_rate",
        "start",
    ]


def test_amounts_follow_currency_minor_units(data: pd.DataFrame) -> None:
    """Yen amounts are whole; other amounts have at most two decimals."""
    yen = data.loc[data["currency"] == "JPY", "amount"].to_numpy()
    assert np.array_equal(yen, np.round(yen))
    cents = data["amount"].to_numpy() * 100
    assert np.allclose(cents, np.round(cents))
