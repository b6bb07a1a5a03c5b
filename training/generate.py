"""Synthetic, labelled transaction data in Vigil's dataset format.

:func:`generate_dataset` draws a world (:mod:`training.world`), its legitimate behaviour
(:mod:`training.legit`) and fraud scenarios (:mod:`training.scenarios`) from one seeded numpy
Generator, so the same arguments always give the same frame. Everything is vectorized; strings are
built once per distinct account, merchant, device and address, then gathered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import InvalidInputError, Problem
from core.models import MAX_AMOUNT
from training.legit import legit_rows, roaming_ips
from training.scenarios import SCENARIOS, Allocator, fraud_rows
from training.schema import (
    AMOUNT_DTYPE,
    LABEL_COLUMN,
    LABEL_DTYPE,
    LEGIT_SCENARIO,
    SCENARIO_COLUMN,
    STRING_DTYPE,
    TIMESTAMP_DTYPE,
)
from training.world import (
    ATM,
    ATTRIBUTE_TEXTS,
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    Rows,
    World,
    build_world,
)

DEFAULT_START: Final = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_FRAUD_RATE: Final = 0.007
MAX_FRAUD_RATE: Final = 0.5
SCENARIO_NAMES: Final = (LEGIT_SCENARIO, *SCENARIOS)
"""Every value the generated ``scenario`` column takes."""
_PUBLIC_FIRST_OCTETS: Final = np.array(
    [23, 31, 37, 45, 51, 62, 77, 81, 84, 91, 95, 103, 109, 151, 176, 178, 185, 188, 193, 212, 217]
)
_PER_USD = np.array([c.per_usd for c in COUNTRIES])
_MINOR_DIGITS = np.array([c.minor_digits for c in COUNTRIES])
_ATM_STEP = np.array([c.atm_step for c in COUNTRIES])


def generate_dataset(
    accounts: int,
    days: int,
    seed: int,
    fraud_rate: float = DEFAULT_FRAUD_RATE,
    start: datetime = DEFAULT_START,
) -> pd.DataFrame:
    """A labelled dataset of ``accounts`` accounts over ``days`` days from ``start`` (UTC).

    About ``fraud_rate`` of the rows are fraud (``label`` 1, ``scenario`` naming the pattern);
    rows are in timestamp order, with ids ``txn-<seed>-<n>`` unique and stable for a seed.
    """
    _check_arguments(accounts, days, seed, fraud_rate, start)
    rng = np.random.default_rng(seed)
    world = build_world(accounts, days, rng)
    legit = legit_rows(world, start, rng)
    fraud_total = round(len(legit) * fraud_rate / (1.0 - fraud_rate))
    ids = Allocator(devices=world.devices, ips=world.devices + roaming_ips(world))
    rows = Rows.concat([legit, fraud_rows(world, fraud_total, rng, ids)])
    return _to_frame(world, rows, start=start, seed=seed, ids=ids, rng=rng)


def _check_arguments(
    accounts: int, days: int, seed: int, fraud_rate: float, start: datetime
) -> None:
    problems = []
    if accounts < 1:
        problems.append(Problem("accounts", f"must be at least 1, got {accounts}"))
    if days < 1:
        problems.append(Problem("days", f"must be at least 1, got {days}"))
    if seed < 0:
        problems.append(Problem("seed", f"must be 0 or more, got {seed}"))
    if not 0.0 <= fraud_rate <= MAX_FRAUD_RATE:
        problems.append(
            Problem("fraud_rate", f"must be in [0, {MAX_FRAUD_RATE}], got {fraud_rate}")
        )
    if start.tzinfo is None or start.utcoffset() is None:
        problems.append(Problem("start", f"must be timezone-aware, got {start.isoformat()}"))
    if problems:
        raise InvalidInputError("cannot generate a dataset", problems)


def _to_frame(
    world: World,
    rows: Rows,
    *,
    start: datetime,
    seed: int,
    ids: Allocator,
    rng: np.random.Generator,
) -> pd.DataFrame:
    millis = np.floor(rows.seconds * 1000.0).astype(np.int64)
    order = np.lexsort((np.arange(len(rows)), millis))
    rows = rows.take(order)
    millis = millis[order]
    country = world.merchant_country[rows.merchant]
    origin = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    times = pd.Series(origin + millis.astype("timedelta64[ms]")).dt.tz_localize("UTC")
    label = (rows.scenario > 0).astype(LABEL_DTYPE)
    return pd.DataFrame(
        {
            "transaction_id": _transaction_ids(seed, len(rows)),
            "account_id": _gather(_names("acct", world.accounts), rows.account),
            "amount": pd.Series(
                _local_amounts(rows.usd, country, rows.channel), dtype=AMOUNT_DTYPE
            ),
            "currency": _gather(np.array([c.currency for c in COUNTRIES], dtype=object), country),
            "timestamp": times.astype(TIMESTAMP_DTYPE),
            "merchant_id": _gather(_names("mrc", len(world.merchant_mcc), rng), rows.merchant),
            "merchant_category": _gather(
                np.array([c.mcc for c in CATEGORIES], dtype=object),
                world.merchant_mcc[rows.merchant],
            ),
            "country": _gather(np.array([c.code for c in COUNTRIES], dtype=object), country),
            "channel": _gather(np.array([c.value for c in CHANNELS], dtype=object), rows.channel),
            "device_id": _gather(_names("dev", ids.devices, rng), rows.device),
            "ip_address": _gather(_ip_addresses(ids.ips, rng), rows.ip),
            "attributes": _gather(np.array(ATTRIBUTE_TEXTS, dtype=object), rows.attributes),
            LABEL_COLUMN: pd.Series(label, dtype=LABEL_DTYPE),
            SCENARIO_COLUMN: _gather(np.array(SCENARIO_NAMES, dtype=object), rows.scenario),
        }
    )


def _local_amounts(
    usd: npt.NDArray[np.float64], country: npt.NDArray[np.int64], channel: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Amounts in each merchant's currency, rounded to its minor unit (ATM: whole notes)."""
    local = usd * _PER_USD[country]
    step = _ATM_STEP[country]
    local = np.where(channel == ATM, np.maximum(step, np.round(local / step) * step), local)
    local = np.where(_MINOR_DIGITS[country] == 0, np.round(local), np.round(local, 2))
    smallest = np.where(_MINOR_DIGITS[country] == 0, 1.0, 0.01)
    amounts: npt.NDArray[np.float64] = np.clip(local, smallest, float(MAX_AMOUNT))
    return amounts


def _transaction_ids(seed: int, count: int) -> pd.Series:
    numbers = pd.Series(np.arange(count)).astype(STRING_DTYPE).str.zfill(9)
    return f"txn-{seed}-" + numbers


def _names(
    prefix: str, count: int, rng: np.random.Generator | None = None
) -> npt.NDArray[np.object_]:
    """``prefix-000042`` names; shuffled when ``rng`` is given, so a number reveals nothing."""
    numbers = rng.permutation(count) if rng is not None else np.arange(count)
    width = max(6, len(str(count)))
    return np.array([f"{prefix}-{k:0{width}d}" for k in numbers.tolist()], dtype=object)


def _ip_addresses(count: int, rng: np.random.Generator) -> npt.NDArray[np.object_]:
    """``count`` distinct public-looking IPv4 addresses."""
    space = len(_PUBLIC_FIRST_OCTETS) << 24
    picked = rng.choice(space, size=min(count, space), replace=False)
    first = _PUBLIC_FIRST_OCTETS[picked >> 24]
    rest = picked & 0xFFFFFF
    return np.array(
        [
            f"{a}.{b >> 16}.{(b >> 8) & 255}.{b & 255}"
            for a, b in zip(first.tolist(), rest.tolist(), strict=True)
        ],
        dtype=object,
    )


def _gather(names: npt.NDArray[np.object_], index: npt.NDArray[np.int64]) -> pd.Series:
    """``names[index]`` as text, missing where ``index`` is -1 (one vectorized take)."""
    return pd.Series(pd.array(names, dtype=STRING_DTYPE).take(index, allow_fill=True))
